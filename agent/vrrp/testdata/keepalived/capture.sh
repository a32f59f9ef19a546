#!/bin/bash
# capture.sh NAME: run keepalived with NAME.conf (beside this script) in a fresh network
# namespace and capture its first 3 adverts on the far end of a veth pair, in a second
# namespace, into $OUT/NAME.pcap; then print the first one as a golden file.
# Needs root, keepalived and tshark (Debian 12: apt-get install keepalived tshark).
# Only documentation prefixes are used; nothing leaves the two namespaces.
set -eu
name=$1
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$(mktemp -d)}
ns=vrrpgold; peer=vrrpgold-peer
ip netns del $ns 2>/dev/null || true
ip netns del $peer 2>/dev/null || true
ip netns add $ns
ip netns add $peer
trap 'ip netns del $ns; ip netns del $peer' EXIT
ip -n $ns link set lo up
# Fixed MACs, so that the IPv6 link-local source is always fe80::5eff:fe10:1.
ip -n $ns link add v0 address 02:00:5e:10:00:01 type veth peer name v1 address 02:00:5e:10:00:02 netns $peer
for n in $ns $peer; do
  ip netns exec $n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n $ns addr add 198.51.100.1/24 dev v0
ip -n $peer addr add 198.51.100.2/24 dev v1
ip -n $ns addr add 2001:db8::1/64 dev v0 nodad
ip -n $ns link set v0 up
ip -n $peer link set v1 up
sleep 1
ip netns exec $peer tshark -q -i v1 -f "ip proto 112 or ip6 proto 112" -c 3 -a duration:20 -w "$out/$name.pcapng" 2>"$out/$name.tshark.log" &
tpid=$!
sleep 2
ip netns exec $ns keepalived -f "$here/$name.conf" -p "$out/$name.pid" -r "$out/$name.vrrp.pid" -l -D -n -P >"$out/$name.keepalived.log" 2>&1 &
kpid=$!
wait $tpid || true
kill $kpid
wait $kpid || true
editcap -F pcap -r "$out/$name.pcapng" "$out/$name.pcap" 1
python3 "$here/extract.py" "$out/$name.pcap"

#!/usr/bin/env bash
# The seed's two-host keepalived setup, reproduced by two vrrp-operator agents in network namespaces
# (make demo-standalone). primary (ens3, 198.51.100.253, priority 150) and secondary (eth0, 198.51.100.254,
# priority 100) share VIP 198.51.100.252 with VRRPv2, PASS authentication and 1 s adverts, from
# config/samples/standalone-seed.yaml; each runs the seed's notify script, which writes a master
# flag. A client on the same bridge shows which MAC answers for the VIP. The demo stops the primary
# (the seed's notify_stop use case), times the takeover, starts it again and watches it take the VIP
# back, then removes everything it made.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${VRRP_OPERATOR:-$root/bin/vrrp-operator}
sample=$root/config/samples/standalone-seed.yaml
vip=198.51.100.252
namespaces=(demo-primary demo-secondary demo-client demo-sw)

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: this creates network namespaces and opens raw VRRP sockets, which needs root." >&2
	echo "demo: please run it as root, for example: sudo make demo-standalone" >&2
	exit 1
fi
for tool in ip ping awk; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo: $tool is missing (apt-get install -y iproute2 iputils-ping gawk)" >&2
		exit 1
	fi
done
if [[ ! -x $bin ]]; then
	echo "demo: $bin is missing: run make build (make demo-standalone does it first)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/vrrp-demo.XXXXXX)
declare -A pid=()

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

remove_namespaces() {
	local ns p
	for ns in "${namespaces[@]}"; do
		if ns_exists "$ns"; then
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
}

cleanup() {
	local rc=$? n i
	trap - EXIT
	for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
	for n in "${!pid[@]}"; do
		for ((i = 0; i < 100; i++)); do kill -0 "${pid[$n]}" 2>/dev/null || break; sleep 0.05; done
	done
	if ((rc == 130)); then
		echo "demo: interrupted" >&2
	elif ((rc != 0)); then
		echo "demo: failed; the agents' last log lines:" >&2
		for n in primary secondary; do
			[[ -f $tmp/$n/agent.log ]] && tail -n 5 "$tmp/$n/agent.log" | sed "s/^/  $n: /" >&2
		done
	fi
	remove_namespaces
	rm -rf "$tmp"
	echo "demo: cleaned up (namespaces, agents, temporary files)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ns_exists demo-sw; then
	echo "demo: removing the namespaces an earlier demo left behind"
	remove_namespaces
fi

# The network: one bridge in a namespace of its own, three hosts on it.
ip netns add demo-sw
ip -n demo-sw link add br0 type bridge
ip -n demo-sw link set br0 type bridge mcast_snooping 0
ip -n demo-sw link set br0 up
add_host() { # name interface address
	ip netns add "demo-$1"
	ip -n "demo-$1" link add "$2" type veth peer name "$1" netns demo-sw
	ip -n demo-sw link set "$1" master br0 up
	ip -n "demo-$1" link set lo up
	ip -n "demo-$1" addr add "$3" dev "$2"
	ip -n "demo-$1" link set "$2" up
}
add_host primary ens3 198.51.100.253/24
add_host secondary eth0 198.51.100.254/24
add_host client eth0 198.51.100.10/24
declare -A iface=([primary]=ens3 [secondary]=eth0)
mac() { ip -n "demo-$1" -br link show "${iface[$1]}" | awk '{print $3}'; }

# The seed's /usr/local/sbin/keepalived.sh, without mail and the VPN, writing its flag to a file of
# the demo instead of /tmp/master_status.
for n in primary secondary; do
	mkdir -p "$tmp/$n/hooks" "$tmp/$n/state"
	cat >"$tmp/$n/hooks/keepalived.sh" <<EOF
#!/bin/bash
TYPE=\$1
NAME=\$2
STATE=\$3
function disableMaster(){ echo 0 > $tmp/$n/master_status; }
function enableMaster(){ echo 1 > $tmp/$n/master_status; }
case \$STATE in
  "MASTER") enableMaster; exit 0 ;;
  "BACKUP") disableMaster; exit 0 ;;
  "STOP")   disableMaster; exit 0 ;;
  "FAULT")  disableMaster; exit 1 ;;
  *)        disableMaster; exit 1 ;;
esac
EOF
	chmod 0755 "$tmp/$n/hooks/keepalived.sh"
done

start_agent() {
	ip netns exec "demo-$1" "$bin" agent --config "$sample" --node-name "$1" \
		--hook-dir "$tmp/$1/hooks" --state-dir "$tmp/$1/state" \
		--metrics-bind-address 127.0.0.1:9472 >>"$tmp/$1/agent.log" 2>&1 &
	pid[$1]=$!
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
holds() { ip -n "demo-$1" -o addr show dev "${iface[$1]}" | grep -q " $vip/"; }

# wait_master NODE OTHER SECONDS: wait until NODE alone holds the VIP.
wait_master() {
	local deadline
	deadline=$(awk -v t="$(now)" -v d="$3" 'BEGIN { printf "%.2f", t + d }')
	until holds "$1" && ! holds "$2"; do
		if awk -v t="$(now)" -v d="$deadline" 'BEGIN { exit !(t > d) }'; then
			echo "demo: $1 did not take $vip alone within $3 s" >&2
			exit 1
		fi
		sleep 0.01
	done
}

flags() {
	echo "    master flag written by the seed's script: primary=$(cat "$tmp/primary/master_status" 2>/dev/null || echo none)," \
		"secondary=$(cat "$tmp/secondary/master_status" 2>/dev/null || echo none)"
}

# client_sees: the MAC in the client's neighbour table for the VIP; the first time, a ping fills it.
# After a failover nothing but the new Master's gratuitous ARP can have changed it.
client_sees() {
	local m
	m=$(ip -n demo-client neigh show "$vip" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
	if [[ -z $m ]]; then
		ip netns exec demo-client ping -c 1 -W 1 "$vip" >/dev/null 2>&1 || true
		m=$(ip -n demo-client neigh show "$vip" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
	fi
	echo "${m:-nothing}"
}
# client_follows OLD: the client's MAC for the VIP once it is no longer OLD, waiting at most 2 s.
client_follows() {
	local m i
	for ((i = 0; i < 200; i++)); do
		m=$(client_sees)
		[[ $m != "$1" ]] && break
		sleep 0.01
	done
	echo "$m"
}
who() { # MAC -> node name
	case $1 in
	"$(mac primary)") echo primary ;;
	"$(mac secondary)") echo secondary ;;
	*) echo "nobody known" ;;
	esac
}

echo "demo: hosts primary (ens3 198.51.100.253, MAC $(mac primary)) and secondary (eth0 198.51.100.254, MAC $(mac secondary)), client 198.51.100.10"
echo "demo: starting both agents with $(basename "$sample") (VRID 51, VRRPv2 PASS, 1 s adverts, priorities 150/100)"
t0=$(now)
start_agent primary
start_agent secondary
wait_master primary secondary 10
echo "demo: primary is MASTER (it holds $vip) after $(since "$t0") s; secondary is BACKUP"
m=$(client_sees)
echo "demo: the client resolves $vip to $m ($(who "$m"))"
sleep 0.2
flags

echo "demo: kill -TERM primary agent (the seed's notify_stop case: stopping the service forces a failover)"
t0=$(now)
kill -TERM "${pid[primary]}"
wait_master secondary primary 10
echo "demo: secondary holds $vip after $(since "$t0") s"
wait "${pid[primary]}" 2>/dev/null || true
unset 'pid[primary]'
m=$(client_follows "$m")
echo "demo: the client resolves $vip to $m ($(who "$m")): the new Master's gratuitous ARP updated it"
sleep 0.2
flags

echo "demo: starting primary again; it preempts (priority 150 > 100)"
t0=$(now)
start_agent primary
wait_master primary secondary 10
echo "demo: primary holds $vip again after $(since "$t0") s"
m=$(client_follows "$m")
echo "demo: the client resolves $vip to $m ($(who "$m"))"
sleep 0.2
flags
echo "demo: done"

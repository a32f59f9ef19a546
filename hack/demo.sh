#!/usr/bin/env bash
# make demo: the seed's keepalived setup as users run vrrp-operator. A local cluster of three nodes
# (hack/cluster.sh: kubelet and containerd per node, in network namespaces), `helm install` of the
# chart with the image built here (make image), the seed's VirtualIP applied with kubectl, then a
# client measures the failover that `kubectl cordon` of the primary causes, and the way back.
#
# The cluster stays up afterwards so that you can look around (the demo prints how); `make demo-down`
# removes everything. Run as root: it creates network namespaces, mounts and cgroups.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN_DIR:-$root/bin}
cluster=$root/hack/cluster.sh
export CLUSTER_DIR=${CLUSTER_DIR:-$bin/cluster}
export KUBECONFIG=$CLUSTER_DIR/admin.kubeconfig
export PATH=$bin:$PATH
vip=198.51.100.252
ns=vrrp-system
client=vrrpk-client

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: this starts kubelets in network namespaces, which needs root: sudo make demo" >&2
	exit 1
fi
for f in vrrp-operator-image.tar pause-image.tar kubectl helm; do
	[[ -e $bin/$f ]] || {
		echo "demo: $bin/$f is missing: run make demo, which builds it first" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/vrrp-demo.XXXXXX)
ping_pid=""
finish() {
	local rc=$?
	[[ -n $ping_pid ]] && kill "$ping_pid" 2>/dev/null
	rm -rf "$tmp"
	if ((rc != 0)); then
		# A demo cut short between cordon and uncordon must not leave primary demoted for the
		# next run, which waits for primary to take the VIP.
		kubectl uncordon primary >/dev/null 2>&1 || true
		kubectl -n "$ns" logs ds/vrrp-operator-agent --all-pods --prefix --tail=-1 >"$CLUSTER_DIR/logs/agents.log" 2>&1 || true
		kubectl get events -A >"$CLUSTER_DIR/logs/events.txt" 2>&1 || true
		echo "demo: failed; logs are in $CLUSTER_DIR/logs (agents.log, events.txt), the cluster is still up" \
			"(make demo-down removes it and keeps the logs in $CLUSTER_DIR-logs)" >&2
	fi
}
trap finish EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# run CMD...: shows the command a user would type, then runs it.
run() {
	printf '$ %s\n' "$*"
	"$@"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
nodes=(primary secondary third)
declare -A link=([primary]=ens3 [secondary]=eth0 [third]=eth0)
holds() { ip -n "vrrpk-$1" -o addr show dev "${link[$1]}" | grep -q " $vip/"; }
mac() { ip -n "vrrpk-$1" -br link show "${link[$1]}" | awk '{print $3}'; }
holder() {
	local n
	for n in "${nodes[@]}"; do holds "$n" && echo "$n"; done
	return 0
}
# wait_until SECONDS WHAT CMD...: polls CMD every 10 ms.
wait_until() {
	local limit=$1 what=$2 t0
	shift 2
	t0=$(now)
	until "$@" >/dev/null 2>&1; do
		if awk -v a="$t0" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
			echo "demo: $what not within ${limit}s" >&2
			exit 1
		fi
		sleep 0.01
	done
}
only_holder() { [[ $(holder) == "$1" ]]; }
# moved_away: one node holds the VIP and it is not primary. secondary and third both have priority
# 100: whichever Backup's Master_Down_Timer runs out first takes over, and the other, hearing an
# equal priority, stays Backup (RFC 3768 §6.4.2).
moved_away() { local h; h=$(holder); [[ -n $h && $h != primary && $h != *$'\n'* ]]; }
status_master() { [[ $(kubectl get vip services -o 'jsonpath={.status.master}') == "$1" ]]; }
client_mac() { ip -n "$client" neigh show "$vip" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
client_sees() { [[ $(client_mac) == "$(mac "$1")" ]]; }
flags() {
	local n out=""
	for n in "${nodes[@]}"; do
		out+=" $n=$(cat "$CLUSTER_DIR/nodes/$n/fs/_run_vrrp-operator/master_status" 2>/dev/null || echo none)"
	done
	echo "the seed's script wrote its master flag (/run/vrrp-operator/master_status on each node):$out"
}
node_table() {
	kubectl get vip services -o jsonpath='{range .status.nodes[*]}{.node}{"\t"}{.state}{"\t"}{.priority}{"\t"}{.interface}{"\t"}{.reason}{"\n"}{end}' |
		awk -F'\t' 'BEGIN { printf "  %-10s %-7s %-8s %-9s %s\n", "NODE", "STATE", "PRIORITY", "INTERFACE", "REASON" }
			{ printf "  %-10s %-7s %-8s %-9s %s\n", $1, $2, $3, $4, $5 }'
}
# longest_gap FILE: the longest time between two replies in `ping -D` output, in seconds.
longest_gap() {
	awk -F'[][]' '/bytes from/ { t = $2 + 0; if (p && t - p > g) g = t - p; p = t } END { printf "%.2f", g }' "$1"
}

step "a cluster: control plane and three nodes, each with its own kubelet and containerd"
"$cluster" up
"$cluster" load "$bin/vrrp-operator-image.tar"
run kubectl get nodes -o wide

step "install the chart (the seed's notify script from examples/seed-values.yaml)"
kubectl get namespace "$ns" >/dev/null 2>&1 || run kubectl create namespace "$ns"
# The agent is a hostNetwork pod with NET_ADMIN and NET_RAW: its namespace must allow privileged
# pods (this cluster enforces the baseline Pod Security level elsewhere, as hardened clusters do).
run kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=privileged pod-security.kubernetes.io/warn=privileged --overwrite
run helm upgrade --install vrrp-operator "$root/charts/vrrp-operator" --namespace "$ns" \
	-f "$root/charts/vrrp-operator/examples/seed-values.yaml" --set-json 'virtualIPs=[]' \
	--set image.repository=vrrp-operator --set image.tag=dev --wait --timeout 3m
run kubectl -n "$ns" get pods -o wide

step "the seed's VirtualIP (VRID 51, VRRPv2 PASS, 1 s adverts, primary 150, others 100)"
kubectl uncordon primary >/dev/null # in case a killed run left it cordoned
t0=$(now)
run kubectl apply -f "$root/config/samples/vrrp_v1alpha1_virtualip.yaml"
wait_until 30 "primary holding $vip" only_holder primary
echo "primary holds $vip $(since "$t0") s after the apply"
wait_until 30 "status naming primary" status_master primary
run kubectl get vip -o wide
node_table
ip netns exec "$client" ping -c 3 -i 0.2 -W 1 "$vip" | grep -E 'bytes from|packet loss'
echo "the client resolves $vip to $(client_mac) (primary's ${link[primary]} is $(mac primary))"
sleep 0.5
flags
run kubectl get nodes -L vrrp.dev/master-services

step "kubectl cordon primary: the VIP moves, the client measures it"
ip netns exec "$client" ping -D -n -i 0.01 -W 1 "$vip" >"$tmp/ping.log" 2>&1 &
ping_pid=$!
sleep 1
t0=$(now)
run kubectl cordon primary
wait_until 10 "another node alone holding $vip" moved_away
moved=$(since "$t0")
new=$(holder)
wait_until 10 "the client following $vip to $new" client_sees "$new"
followed=$(since "$t0")
sleep 1
kill "$ping_pid"
wait "$ping_pid" 2>/dev/null || true
ping_pid=""
gap=$(longest_gap "$tmp/ping.log")
echo "cordon -> VIP on $new: ${moved} s; client's neighbour entry on $new's MAC: ${followed} s"
echo "the client (pinging every 10 ms) saw no answer for ${gap} s at most"
wait_until 10 "status naming $new" status_master "$new"
run kubectl get vip -o wide
node_table
flags
run kubectl events --for virtualip/services

step "kubectl uncordon primary: primary preempts and takes the VIP back"
t0=$(now)
run kubectl uncordon primary
wait_until 15 "primary holding $vip again" only_holder primary
echo "uncordon -> VIP back on primary: $(since "$t0") s (preemption waits Master_Down_Interval)"
wait_until 10 "status naming primary" status_master primary
run kubectl get vip -o wide

step "done: the cluster is still up"
echo "  export KUBECONFIG=$KUBECONFIG PATH=$bin:\$PATH"
echo "  kubectl get vip -o wide; kubectl -n $ns logs ds/vrrp-operator-agent; ip netns exec $client ping $vip"
echo "  make demo-down   # removes the cluster, its namespaces, mounts, cgroups and processes"

#!/usr/bin/env bash
# A local Kubernetes cluster whose nodes are network namespaces of this machine, each with its own
# containerd and kubelet, for `make demo` (hack/demo.sh) and test/localcluster.
#
#   hack/cluster.sh up        start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and one
#                             containerd + kubelet per node; wait until every node is Ready
#   hack/cluster.sh load TAR  import an image tarball (docker-archive) into every node's containerd
#   hack/cluster.sh down      stop everything and remove all it made (processes, mounts, cgroups,
#                             network namespaces, the bridge, the state directory)
#   hack/cluster.sh status    what runs
#   hack/cluster.sh env       the KUBECONFIG line to use the cluster from a shell
#
# The network, documentation prefixes only: a bridge vrrpk0 in this namespace holds 198.51.100.1/24,
# where the API server listens on port 443; the nodes primary (ens3, .253), secondary (eth0, .254) and
# third (eth0, .251) and a client namespace (.10) hang on it. The service range is 198.51.100.0/28, so
# the `kubernetes` Service's ClusterIP is 198.51.100.1 itself: pods reach the API server with their
# in-cluster configuration without kube-proxy. Pod networks (CNI bridge, masqueraded behind the node)
# are 203.0.113.0/27 slices that never leave their node.
#
# What a node needs that a machine gives a kubelet only once (facts found on Debian 12, cgroup v1):
#   - kubelet and containerd share a private mount namespace (entered with nsenter + unshare; `ip netns
#     exec` would remount /sys and lose /sys/fs/cgroup), where per-node directories are bind-mounted
#     over the paths both use (/var/lib/kubelet, /run/containerd, /var/log/pods, ...) and plain files
#     over the machine-wide sysctls kubelet rewrites, so the machine's own values never change;
#   - a cgroup root per node, made in every v1 hierarchy (cpuset initialised), and failCgroupV1: false;
#   - containerd's restrict_oom_score_adj (no CAP_SYS_RESOURCE here) and a pause image built locally
#     (bin/pause-image.tar, make pause-image), since nothing can be pulled.
#
# Environment: CLUSTER_DIR (default bin/cluster) holds certificates, configuration, logs (logs/, kept in
# CLUSTER_DIR-logs by down) and each node's directories; BIN_DIR (default bin) holds the kube binaries
# (make kube-binaries).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${BIN_DIR:-$root/bin}
dir=${CLUSTER_DIR:-$root/bin/cluster}
logs=$dir/logs
kubeconfig=$dir/admin.kubeconfig
bridge=vrrpk0
api_ip=198.51.100.1
api=https://$api_ip:443
etcd_port=12379
nodes=(primary secondary third)
declare -A node_ip=([primary]=198.51.100.253 [secondary]=198.51.100.254 [third]=198.51.100.251)
declare -A node_link=([primary]=ens3 [secondary]=eth0 [third]=eth0)
declare -A pod_net=([primary]=203.0.113.32/27 [secondary]=203.0.113.64/27 [third]=203.0.113.96/27)
client_ns=vrrpk-client
client_ip=198.51.100.10
pause_image=registry.k8s.io/pause:3.10
# Paths kubelet and containerd use, each bind-mounted from a per-node directory inside the node.
node_paths=(/var/lib/kubelet /var/lib/containerd /run/containerd /var/lib/cni /etc/cni/net.d /var/log/pods
	/var/log/containers /var/lib/vrrp-operator /run/vrrp-operator)
# Machine-wide sysctls kubelet sets, with the values it wants; each node sees a plain file instead.
declare -A sysctls=([vm/overcommit_memory]=1 [vm/panic_on_oom]=0 [kernel/panic]=10 [kernel/panic_on_oops]=1
	[kernel/keys/root_maxkeys]=1000000 [kernel/keys/root_maxbytes]=25000000)
cgroup_hierarchies=(cpu cpuacct cpuset memory devices freezer blkio pids systemd)
# Every cgroup file system mounted here (v1 hierarchies and the hybrid unified one): the kubelet and
# runc may create a node's cgroups in any of them, and down removes them from all.
cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo; }

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { printf '%s cluster: %s\n' "$(date +%T)" "$*"; }
die() {
	printf 'cluster: %s\n' "$*" >&2
	exit 1
}

ns_exists() { [[ -e /run/netns/$1 ]]; }
node_ns() { echo "vrrpk-$1"; }
node_dir() { echo "$dir/nodes/$1"; }
cgroup_name() { echo "vrrpk-$1"; }
kc() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

preflight() {
	[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, mounts, cgroups); run it with sudo"
	local b
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet etcd kubectl; do
		[[ -x $bin/$b ]] || die "$bin/$b is missing: run make kube-binaries"
	done
	for b in containerd runc ctr nsenter unshare openssl ip iptables; do
		command -v "$b" >/dev/null || die "$b is missing: apt-get install -y containerd runc containernetworking-plugins iptables openssl iproute2"
	done
	[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
		die "CNI plugins are missing: apt-get install -y containernetworking-plugins"
	[[ -f $bin/pause-image.tar ]] || die "$bin/pause-image.tar is missing: run make pause-image"
	[[ -d /sys/fs/cgroup/pids ]] ||
		die "this script knows cgroup v1 hosts only (/sys/fs/cgroup/pids is missing): boot with systemd.unified_cgroup_hierarchy=0"
}

# ---- certificates and kubeconfigs ----

# cert NAME SUBJECT [SAN]: a key and a certificate signed by the cluster CA, for servers and clients.
cert() {
	local name=$1 subj=$2 san=${3:-} ext
	[[ -f $dir/pki/$name.crt ]] && return
	ext="extendedKeyUsage=serverAuth,clientAuth"
	if [[ -n $san ]]; then ext+=$'\n'"subjectAltName=$san"; fi
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj" \
		-keyout "$dir/pki/$name.key" -out "$dir/pki/$name.csr" 2>/dev/null
	openssl x509 -req -in "$dir/pki/$name.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" \
		-CAcreateserial -days 3650 -out "$dir/pki/$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
	rm -f "$dir/pki/$name.csr"
}

# kubeconfig FILE CERTNAME: a kubeconfig that authenticates with pki/CERTNAME.
kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: vrrpk
  cluster: {server: "$api", certificate-authority: "$dir/pki/ca.crt"}
users:
- name: $2
  user: {client-certificate: "$dir/pki/$2.crt", client-key: "$dir/pki/$2.key"}
contexts:
- name: vrrpk
  context: {cluster: vrrpk, user: $2}
current-context: vrrpk
EOF
}

pki() {
	mkdir -p "$dir/pki"
	if [[ ! -f $dir/pki/ca.crt ]]; then
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
			-subj /CN=vrrpk-ca -keyout "$dir/pki/ca.key" -out "$dir/pki/ca.crt" 2>/dev/null
	fi
	cert apiserver /CN=kube-apiserver \
		"IP:$api_ip,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert admin "/O=system:masters/CN=vrrpk-admin"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
	cert controller-manager /CN=system:kube-controller-manager
	cert scheduler /CN=system:kube-scheduler
	local n
	for n in "${nodes[@]}"; do cert "node-$n" "/O=system:nodes/CN=system:node:$n"; done
	if [[ ! -f $dir/pki/sa.key ]]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/pki/sa.key" 2>/dev/null
		openssl pkey -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
	fi
	kubeconfig "$kubeconfig" admin
	kubeconfig "$dir/controller-manager.kubeconfig" controller-manager
	kubeconfig "$dir/scheduler.kubeconfig" scheduler
	for n in "${nodes[@]}"; do kubeconfig "$dir/nodes/$n/kubelet.kubeconfig" "node-$n"; done
}

# ---- processes ----

# ours PIDFILE MARK: true when the process in PIDFILE runs and its command line holds MARK. A PID
# file that outlived a reboot may name an unrelated process, which must be neither trusted nor killed.
ours() {
	local p
	[[ -f $1 ]] || return 1
	p=$(cat "$1")
	[[ -r /proc/$p/cmdline ]] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$2"
}

# start NAME CMD...: runs CMD in the background, logging to logs/NAME.log, its PID in run/NAME.pid.
# Every command names a path under $dir, which marks it as ours.
start() {
	local name=$1
	shift
	ours "$dir/run/$name.pid" "$dir" && return
	setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/run/$name.pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
	local what=$1 limit=$2 i
	shift 2
	for ((i = 0; i < limit * 10; i++)); do
		"$@" >/dev/null 2>&1 && return
		sleep 0.1
	done
	die "$what not ready after ${limit}s; see $logs"
}

control_plane() {
	start etcd "$bin/etcd" --name vrrpk --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
		--initial-cluster vrrpk=http://127.0.0.1:12380 --unsafe-no-fsync
	start kube-apiserver "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address "$api_ip" --advertise-address "$api_ip" --secure-port 443 \
		--service-cluster-ip-range 198.51.100.0/28 \
		--tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
		--client-ca-file "$dir/pki/ca.crt" \
		--kubelet-client-certificate "$dir/pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$dir/pki/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP \
		--service-account-issuer https://kubernetes.default.svc \
		--service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--admission-control-config-file "$dir/admission.yaml" \
		--allow-privileged=true
	wait_for kube-apiserver 60 kc get --raw /readyz
	start kube-controller-manager "$bin/kube-controller-manager" \
		--kubeconfig "$dir/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$dir/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
		--use-service-account-credentials --service-account-private-key-file "$dir/pki/sa.key" \
		--root-ca-file "$dir/pki/ca.crt" --cluster-signing-cert-file "$dir/pki/ca.crt" \
		--cluster-signing-key-file "$dir/pki/ca.key" \
		--bind-address 127.0.0.1 --secure-port 10257 --leader-elect=false \
		--node-monitor-grace-period 20s
	start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
		--authentication-kubeconfig "$dir/scheduler.kubeconfig" \
		--authorization-kubeconfig "$dir/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false
}

network() {
	# Each step checks its own result rather than its first object, so that up after a failed up
	# completes what is missing.
	ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
	# Multicast snooping would delay the first VRRP adverts until a querier exists.
	ip link set "$bridge" type bridge mcast_snooping 0
	ip addr replace "$api_ip/24" dev "$bridge"
	ip link set "$bridge" up
	local n ns link addr peer
	for n in "${nodes[@]}" client; do
		if [[ $n == client ]]; then
			ns=$client_ns link=eth0 addr=$client_ip
		else
			ns=$(node_ns "$n") link=${node_link[$n]} addr=${node_ip[$n]}
		fi
		peer=vrrpk-$n
		ns_exists "$ns" || ip netns add "$ns"
		if ! ip -n "$ns" link show "$link" >/dev/null 2>&1; then
			ip link del "$peer" 2>/dev/null || true
			ip link add "$peer" type veth peer name "$link" netns "$ns"
		fi
		ip link set "$peer" master "$bridge" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr replace "$addr/24" dev "$link"
		ip -n "$ns" link set "$link" up
		# Pods reach the API server through their node, masqueraded (CNI bridge plugin). The file
		# belongs to the namespace of the process that opens it.
		if [[ $n != client ]]; then ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'; fi
	done
}

# node_config NODE: the node's directories, containerd, CNI and kubelet configuration.
node_config() {
	local n=$1 d
	d=$(node_dir "$n")
	mkdir -p "$d/fs" "$d/sysctl"
	local p k
	for p in "${node_paths[@]}"; do mkdir -p "$d/fs/${p//\//_}"; done
	for k in "${!sysctls[@]}"; do echo "${sysctls[$k]}" >"$d/sysctl/${k//\//_}"; done
	cat >"$d/containerd.toml" <<EOF
version = 2
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
# Not /opt/containerd of the machine.
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause_image"
  # No CAP_SYS_RESOURCE here: without this the pause sandbox fails to start.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
EOF
	cat >"$d/fs/_etc_cni_net.d/10-vrrpk.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "vrrpk", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${pod_net[$n]}"}]], "routes": [{"dst": "0.0.0.0/0"}]}}
]}
EOF
	cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine runs cgroup v1.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$(cgroup_name "$n")
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
address: ${node_ip[$n]}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$dir/pki/ca.crt"}
authorization: {mode: Webhook}
tlsCertFile: "$dir/pki/node-$n.crt"
tlsPrivateKeyFile: "$dir/pki/node-$n.key"
failSwapOn: false
# Pods get no name server: nothing here may send traffic outside the documentation prefixes.
resolvConf: ""
clusterDomain: cluster.local
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
EOF
}

cgroups() {
	local n=$1 h c
	c=$(cgroup_name "$n")
	for h in "${cgroup_hierarchies[@]}"; do
		[[ -d /sys/fs/cgroup/$h ]] || continue
		mkdir -p "/sys/fs/cgroup/$h/$c"
	done
	# A new cpuset has no CPUs or memory nodes until it is given its parent's.
	[[ -s /sys/fs/cgroup/cpuset/$c/cpuset.cpus ]] || cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$c/cpuset.cpus"
	[[ -s /sys/fs/cgroup/cpuset/$c/cpuset.mems ]] || cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$c/cpuset.mems"
}

# The mount points on the machine that the nodes cover; those that did not exist are recorded, so
# that down removes exactly them.
mount_points() {
	local p q missing
	for p in "${node_paths[@]}"; do
		missing=()
		q=$p
		while [[ ! -d $q ]]; do
			missing=("$q" "${missing[@]}")
			q=$(dirname "$q")
		done
		for q in "${missing[@]}"; do
			mkdir "$q"
			echo "$q" >>"$dir/created-dirs"
		done
	done
}

# node_inside NODE: runs inside the node's network and private mount namespaces: mounts, then
# containerd and kubelet, and waits for them.
node_inside() {
	local n=$1 d p k
	d=$(node_dir "$n")
	for p in "${node_paths[@]}"; do mount --bind "$d/fs/${p//\//_}" "$p"; done
	for k in "${!sysctls[@]}"; do mount --bind "$d/sysctl/${k//\//_}" "/proc/sys/$k"; done
	containerd --config "$d/containerd.toml" >>"$logs/$n-containerd.log" 2>&1 &
	echo $! >"$dir/run/$n-containerd.pid"
	for ((i = 0; i < 100; i++)); do
		[[ -S /run/containerd/containerd.sock ]] && break
		sleep 0.1
	done
	ctr -n k8s.io images import "$bin/pause-image.tar" >>"$logs/$n-containerd.log" 2>&1
	"$bin/kubelet" --config "$d/kubelet.yaml" --kubeconfig "$d/kubelet.kubeconfig" \
		--hostname-override "$n" --node-ip "${node_ip[$n]}" --v 1 >>"$logs/$n-kubelet.log" 2>&1 &
	echo $! >"$dir/run/$n-kubelet.pid"
	wait
}

start_node() {
	local n=$1
	ours "$dir/run/$n.pid" "__node $n" && return
	node_config "$n"
	cgroups "$n"
	setsid nsenter --net="/run/netns/$(node_ns "$n")" -- unshare --mount --propagation slave -- \
		"${BASH_SOURCE[0]}" __node "$n" >>"$logs/$n.log" 2>&1 </dev/null &
	echo $! >"$dir/run/$n.pid"
}

admission_config() {
	# Pod Security as a hardened cluster has it: baseline unless a namespace says otherwise, so the
	# hostNetwork agent needs its namespace labelled privileged, as it would elsewhere.
	cat >"$dir/admission.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults: {enforce: baseline, enforce-version: latest, warn: baseline, warn-version: latest}
    exemptions: {usernames: [], runtimeClasses: [], namespaces: [kube-system]}
EOF
}

up() {
	preflight
	local t0=$SECONDS n
	mkdir -p "$logs" "$dir/run"
	for n in "${nodes[@]}"; do mkdir -p "$(node_dir "$n")"; done
	log "certificates and configuration in $dir"
	pki
	admission_config
	log "network: bridge $bridge ($api_ip/24), nodes ${nodes[*]}, client $client_ns"
	network
	log "control plane: etcd, kube-apiserver on $api, kube-controller-manager, kube-scheduler"
	control_plane
	mount_points
	log "nodes: containerd and kubelet on ${nodes[*]}"
	for n in "${nodes[@]}"; do start_node "$n"; done
	wait_for "nodes Ready" 120 all_ready
	log "cluster up in $((SECONDS - t0))s; use it with: export KUBECONFIG=$kubeconfig"
}

all_ready() {
	local n
	for n in "${nodes[@]}"; do
		[[ $(kc get node "$n" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] || return 1
	done
}

load() {
	local tar=${1:?usage: hack/cluster.sh load IMAGE.tar}
	local n
	[[ -f $tar ]] || die "$tar: no such file"
	for n in "${nodes[@]}"; do
		ctr --address "$(node_dir "$n")/fs/_run_containerd/containerd.sock" -n k8s.io images import "$tar" >/dev/null ||
			die "importing $tar into $n"
	done
	log "loaded $(basename "$tar") on ${nodes[*]}"
}

# kill_pidfile PIDFILE MARK: kills the process in PIDFILE if it still runs and is ours (see ours).
kill_pidfile() {
	local f=$1 p
	if ! ours "$f" "$2"; then
		rm -f "$f"
		return 0
	fi
	p=$(cat "$f")
	kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	rm -f "$f"
}

# kill_node NODE: ends every process of the node: kubelet, containerd, shims and containers (in the
# node's network namespace or in its cgroups).
kill_node() {
	local n=$1 ns c h pids round
	ns=$(node_ns "$n")
	c=$(cgroup_name "$n")
	kill_pidfile "$dir/run/$n-kubelet.pid" "$dir"
	kill_pidfile "$dir/run/$n-containerd.pid" "$dir"
	for round in 1 2 3 4 5; do
		pids=""
		ns_exists "$ns" && pids+=" $(ip netns pids "$ns" 2>/dev/null || true)"
		for h in $(cgroup_mounts); do
			if [[ -d $h/$c ]]; then pids+=" $(find "$h/$c" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"; fi
		done
		[[ -z ${pids// /} ]] && break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		sleep 0.2
	done
	kill_pidfile "$dir/run/$n.pid" "__node $n"
	for h in $(cgroup_mounts); do
		[[ -d $h/$c ]] || continue
		find "$h/$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		if [[ -d $h/$c ]]; then echo "cluster: could not remove the cgroup $h/$c" >&2; fi
	done
}

down() {
	[[ $(id -u) -eq 0 ]] || die "needs root"
	local n p
	for n in "${nodes[@]}"; do kill_node "$n"; done
	for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do kill_pidfile "$dir/run/$p.pid" "$dir"; done
	for n in "${nodes[@]}"; do
		if ns_exists "$(node_ns "$n")"; then ip netns del "$(node_ns "$n")"; fi
	done
	if ns_exists "$client_ns"; then
		for p in $(ip netns pids "$client_ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$client_ns"
	fi
	if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge"; fi
	# The logs outlive the cluster, for a look at what went wrong: bin/cluster-logs holds the last ones.
	if [[ -d $logs ]]; then
		rm -rf "$dir-logs"
		mv "$logs" "$dir-logs"
	fi
	if [[ -f $dir/created-dirs ]]; then
		# Deepest first, so that a created parent is empty when its turn comes.
		tac "$dir/created-dirs" | while read -r p; do rmdir "$p" 2>/dev/null || true; done
	fi
	rm -rf "$dir"
	log "down: nothing left (the last logs are in $dir-logs)"
}

status() {
	local p
	for p in etcd kube-apiserver kube-controller-manager kube-scheduler "${nodes[@]/%/-containerd}" "${nodes[@]/%/-kubelet}"; do
		if ours "$dir/run/$p.pid" "$dir"; then
			echo "$p: running (pid $(cat "$dir/run/$p.pid"))"
		else
			echo "$p: stopped"
		fi
	done
	if [[ -f $kubeconfig ]]; then kc get nodes -o wide 2>/dev/null || true; fi
}

case ${1:-} in
up) up ;;
down) down ;;
load) load "${2:-}" ;;
status) status ;;
env) echo "export KUBECONFIG=$kubeconfig" ;;
__node) node_inside "$2" ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac

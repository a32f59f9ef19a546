#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests and the local cluster need (kube-apiserver, kubectl, etcd, helm,
# kubelet, kube-controller-manager, kube-scheduler) from the Go module proxy into bin/, because no release
# download site is reachable. Each binary is rebuilt only when its version stamp file is missing or names
# another version. Progress goes to stdout: the first build takes about 15 minutes on 2 cores.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# sudo resets PATH to its secure_path, which has no Go: say so here, not deep in a build.
command -v go >/dev/null || {
	echo "build-kube-binaries: go is not on PATH (under sudo: sudo env \"PATH=\$PATH\" make ...)" >&2
	exit 1
}
bin=${BIN_DIR:-$root/bin}
KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.13}
HELM_VERSION=${HELM_VERSION:-v4.3.1}
mkdir -p "$bin"

# built NAME VERSION: true when bin/NAME exists and was built at VERSION.
built() { [[ -x $bin/$1 && -f $bin/.$1.version && $(cat "$bin/.$1.version") == "$2" ]]; }

# wait_briefly PID: true once PID has ended, false after 30 s while it still runs.
wait_briefly() {
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# build NAME VERSION MODULE_DIR PACKAGE LDFLAGS
build() {
	local name=$1 version=$2 dir=$3 pkg=$4 ldflags=$5
	if built "$name" "$version"; then
		echo "bin/$name $version: up to date"
		return
	fi
	echo "building bin/$name $version (first build takes minutes)"
	local start=$SECONDS pid
	(cd "$root/hack/tools/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name" "$pkg") &
	pid=$!
	# A cold build prints nothing for minutes: say that it is still going.
	while ! wait_briefly "$pid"; do
		echo "  still building bin/$name ($((SECONDS - start))s)"
	done
	wait "$pid"
	echo "  built bin/$name in $((SECONDS - start))s"
	echo "$version" >"$bin/.$name.version"
}

# kube_ldflags VERSION: link flags that stamp a Kubernetes version, so that clients (Helm's kubeVersion
# checks among them) see a real release.
kube_ldflags() {
	local minor=${1#v1.} p ld="-s -w"
	minor=${minor%%.*}
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$1 -X $p.gitMajor=1 -X $p.gitMinor=$minor"
		ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	echo "$ld"
}
kube_ld=$(kube_ldflags "$KUBE_VERSION")

build kube-apiserver "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-apiserver "$kube_ld"
build kubectl "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kubectl "$kube_ld"
build etcd "$ETCD_VERSION" etcd go.etcd.io/etcd/server/v3 "-s -w"
build helm "$HELM_VERSION" helm helm.sh/helm/v4/cmd/helm \
	"-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
# The local cluster (hack/cluster.sh): the rest of the control plane and the node agent, from the same
# k8s.io/kubernetes module as the API server.
build kube-controller-manager "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ld"
build kube-scheduler "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kube-scheduler "$kube_ld"
build kubelet "$KUBE_VERSION" kube k8s.io/kubernetes/cmd/kubelet "$kube_ld"
# The oldest API server the chart supports (its kubeVersion), for TestCRDOnMinimumKubernetes in api/v1alpha1:
# the CRD's isIP/isCIDR rules need 1.31. It goes to bin/kube-min so that envtest's bin/kube-apiserver stays.
KUBE_MIN_VERSION=${KUBE_MIN_VERSION:-v1.31.14}
mkdir -p "$bin/kube-min" "$bin/.kube-min"
build kube-min/kube-apiserver "$KUBE_MIN_VERSION" kube-min k8s.io/kubernetes/cmd/kube-apiserver "$(kube_ldflags "$KUBE_MIN_VERSION")"

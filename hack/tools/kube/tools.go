//go:build tools

// Package tools pins the Kubernetes commands that hack/build-kube-binaries.sh builds: the API server and
// kubectl for envtest and the chart tests, and the rest of a control plane plus the kubelet for the
// local cluster (hack/cluster.sh).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)

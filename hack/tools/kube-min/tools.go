//go:build tools

// Package tools pins the oldest kube-apiserver the chart supports (charts/vrrp-operator/Chart.yaml's
// kubeVersion), which hack/build-kube-binaries.sh builds into bin/kube-min so that a test proves the CRD
// is accepted there: its CEL rules use isIP and isCIDR, which a new CRD may use only from 1.31.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)

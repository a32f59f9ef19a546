//go:build tools

// Package tools pins the Helm CLI that hack/build-kube-binaries.sh builds.
package tools

import _ "helm.sh/helm/v4/cmd/helm"

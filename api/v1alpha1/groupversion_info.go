// Package v1alpha1 holds the VirtualIP API: a VRRP virtual router declared once for the cluster and
// run by the agent on every participating node.
//
// +kubebuilder:object:generate=true
// +groupName=vrrp.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of VirtualIP.
	GroupVersion = schema.GroupVersion{Group: "vrrp.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this group-version to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

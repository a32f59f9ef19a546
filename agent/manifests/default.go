package manifests

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Default fills in the defaults of the VirtualIP CRD (the +kubebuilder:default markers of
// api/v1alpha1) where v leaves a field unset, as the API server does on create. Like the API
// server it fills fields of optional objects (garp, hooks, authentication) only when the object is
// there: the CRD has no default for the objects themselves, and desired.Derive falls back to the
// same values. A zero-valued field counts as unset; Load tells the two apart.
func Default(v *vrrpv1.VirtualIP) {
	s := &v.Spec
	if s.Version == 0 {
		s.Version = desired.DefaultVersion
	}
	if s.AdvertInterval == nil {
		s.AdvertInterval = &metav1.Duration{Duration: desired.DefaultAdvertInterval}
	}
	if s.Priority == 0 {
		s.Priority = desired.DefaultPriority
	}
	if s.Preempt == nil {
		preempt := true
		s.Preempt = &preempt
	}
	if s.V3IPv4Checksum == "" {
		s.V3IPv4Checksum = desired.DefaultChecksum
	}
	if s.Failover == nil {
		s.Failover = &vrrpv1.Failover{}
	}
	if s.Failover.OnCordon == "" {
		s.Failover.OnCordon = desired.DefaultOnCordon
	}
	if a := s.Authentication; a != nil && a.SecretRef.Key == "" {
		a.SecretRef.Key = desired.DefaultSecretKey
	}
	if g := s.GARP; g != nil {
		if g.Count == 0 {
			g.Count = desired.DefaultGARPCount
		}
		if g.Interval == nil {
			g.Interval = &metav1.Duration{Duration: desired.DefaultGARPInterval}
		}
	}
	if h := s.Hooks; h != nil && h.Timeout == nil {
		h.Timeout = &metav1.Duration{Duration: desired.DefaultHookTimeout}
	}
}

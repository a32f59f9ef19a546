package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// baseConfig is the node-independent part of vip's configuration, with the API's defaults for
// unset fields, and spec.priority as the priority. Integer fields are range-checked before they
// are narrowed, so that 256 does not wrap to a valid 0 or 1.
func baseConfig(vip *vrrpv1.VirtualIP) (vrrp.Config, error) {
	spec := &vip.Spec
	cfg := vrrp.Config{
		Name:           vip.Name,
		AdvertInterval: duration(spec.AdvertInterval, DefaultAdvertInterval),
		PreemptDelay:   duration(spec.PreemptDelay, 0),
		Preempt:        spec.Preempt == nil || *spec.Preempt,
		// The Master always accepts packets for its VIPs (RFC 9568 §6.1 Accept_Mode), as keepalived
		// does by default: refusing them would take a firewall rule the agent does not manage.
		AcceptMode: true,
	}
	if spec.VirtualRouterID < 1 || spec.VirtualRouterID > 255 {
		return vrrp.Config{}, fmt.Errorf("virtualRouterID %d is not in 1-255: %w", spec.VirtualRouterID, ErrInvalidSpec)
	}
	cfg.VRID = uint8(spec.VirtualRouterID)
	switch spec.Version {
	case 0:
		cfg.Version = uint8(DefaultVersion)
	case vrrpv1.VRRPv2, vrrpv1.VRRPv3:
		cfg.Version = uint8(spec.Version)
	default:
		return vrrp.Config{}, fmt.Errorf("version %d is neither 2 nor 3: %w", spec.Version, ErrInvalidSpec)
	}
	prio, err := checkPriority("priority", spec.Priority)
	if err != nil {
		return vrrp.Config{}, err
	}
	cfg.Priority = prio
	switch spec.V3IPv4Checksum {
	case "", vrrpv1.ChecksumPseudoHeader:
		cfg.Checksum = vrrp.ChecksumPseudoHeader
	case vrrpv1.ChecksumNoPseudoHeader:
		cfg.Checksum = vrrp.ChecksumNoPseudoHeader
	default:
		return vrrp.Config{}, fmt.Errorf("v3IPv4Checksum %q: %w", spec.V3IPv4Checksum, ErrInvalidSpec)
	}
	for _, s := range spec.Addresses {
		p, err := ParseAddress(s)
		if err != nil {
			return vrrp.Config{}, fmt.Errorf("addresses: %w: %w", err, ErrInvalidSpec)
		}
		cfg.Addresses = append(cfg.Addresses, p)
	}
	return cfg, nil
}

// checkPriority narrows a priority of the API, where 0 means unset.
func checkPriority(field string, p int32) (uint8, error) {
	switch {
	case p == 0:
		return DefaultPriority, nil
	case p < 1 || p > 254:
		return 0, fmt.Errorf("%s %d is not in 1-254: %w", field, p, ErrInvalidSpec)
	}
	return uint8(p), nil
}

// ParseAddress parses a VirtualIP address, "198.51.100.10/24" or "2001:db8::10": the prefix length
// is the address's subnet on the interface, and an address without one is a host route, /32 or
// /128. Host bits are kept: they are the address. IPv6 zones are refused, the interface decides
// the link.
func ParseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parsing %q: %w", s, err)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("parsing %q: an address with a zone", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// SecretKey is the key of ref's Secret that holds the password: DefaultSecretKey when ref names none.
func SecretKey(ref vrrpv1.SecretKeyReference) string {
	if ref.Key == "" {
		return DefaultSecretKey
	}
	return ref.Key
}

// password reads the VRRPv2 password from the referenced Secret, which must be in namespace unless
// that is empty. An unset or empty password would silently turn authentication off, so both are
// errors.
func password(spec *vrrpv1.VirtualIPSpec, secrets []corev1.Secret, namespace string) (string, error) {
	auth := spec.Authentication
	if auth == nil {
		return "", nil
	}
	if spec.Version != vrrpv1.VRRPv2 {
		return "", fmt.Errorf("authentication needs version 2, VRRPv3 has none (RFC 9568 §9): %w", ErrInvalidSpec)
	}
	if auth.Type != vrrpv1.AuthenticationPass {
		return "", fmt.Errorf("authentication type %q: %w", auth.Type, ErrInvalidSpec)
	}
	ref := auth.SecretRef
	if namespace != "" && ref.Namespace != namespace {
		return "", fmt.Errorf("secretRef %s/%s: the agent reads Secrets only in its own namespace %s, put the Secret there: %w",
			ref.Namespace, ref.Name, namespace, ErrSecret)
	}
	key := SecretKey(ref)
	i := slices.IndexFunc(secrets, func(s corev1.Secret) bool {
		return s.Namespace == ref.Namespace && s.Name == ref.Name
	})
	if i < 0 {
		return "", fmt.Errorf("reading password from Secret %s/%s: not found: %w", ref.Namespace, ref.Name, ErrSecret)
	}
	v, ok := secrets[i].Data[key]
	switch {
	case !ok:
		return "", fmt.Errorf("reading password from Secret %s/%s: no key %q: %w", ref.Namespace, ref.Name, key, ErrSecret)
	case len(v) == 0:
		return "", fmt.Errorf("reading password from Secret %s/%s: key %q is empty: %w", ref.Namespace, ref.Name, key, ErrSecret)
	}
	return string(v), nil
}

func hooks(h *vrrpv1.Hooks) (Hooks, error) {
	out := Hooks{Timeout: DefaultHookTimeout}
	if h == nil {
		return out, nil
	}
	out.Notify = argv(h.Notify)
	out.Master = argv(h.Master)
	out.Backup = argv(h.Backup)
	out.Fault = argv(h.Fault)
	out.Stop = argv(h.Stop)
	out.Timeout = duration(h.Timeout, DefaultHookTimeout)
	if out.Timeout <= 0 {
		return Hooks{}, fmt.Errorf("hooks.timeout %s is not positive: %w", out.Timeout, ErrInvalidSpec)
	}
	return out, nil
}

// argv copies a hook's command, so that the Router shares no memory with the API object.
func argv(h *vrrpv1.Hook) []string {
	if h == nil || len(h.Command) == 0 {
		return nil
	}
	return slices.Clone(h.Command)
}

func garp(g *vrrpv1.GARP) (GARP, error) {
	out := GARP{Count: DefaultGARPCount, Interval: DefaultGARPInterval}
	if g == nil {
		return out, nil
	}
	if g.Count != 0 {
		out.Count = int(g.Count)
	}
	out.Interval = duration(g.Interval, DefaultGARPInterval)
	out.Refresh = duration(g.Refresh, 0)
	switch {
	case out.Count < 1:
		return GARP{}, fmt.Errorf("garp.count %d is not positive: %w", out.Count, ErrInvalidSpec)
	case out.Interval <= 0:
		return GARP{}, fmt.Errorf("garp.interval %s is not positive: %w", out.Interval, ErrInvalidSpec)
	case out.Refresh < 0:
		return GARP{}, fmt.Errorf("garp.refresh %s is negative: %w", out.Refresh, ErrInvalidSpec)
	}
	return out, nil
}

// duration reads an optional duration; unset means def.
func duration(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

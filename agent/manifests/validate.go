package manifests

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Limits of the VirtualIP CRD (api/v1alpha1 markers).
const (
	maxAddresses      = 16
	maxAddressLength  = 49
	maxInterface      = 15
	maxNodePriorities = 64
	maxNameLength     = 253
	maxNamespace      = 63
	maxHookArgs       = 32
	maxHookArgLength  = 1024
	maxGARPCount      = 100
)

var interfacePattern = regexp.MustCompile(`^[^/\s:]*$`)

// Validate refuses what the VirtualIP CRD's schema and CEL rules refuse, with the field paths and,
// for CEL rules, the messages of the API server, so that a standalone agent refuses what kubectl
// apply would. Like the API server it validates after defaulting: call Default first. It also
// refuses a label selector that does not parse, which the schema lets through and Derive could not
// use.
func Validate(v *vrrpv1.VirtualIP) error {
	if errs := validate(v); len(errs) > 0 {
		return fmt.Errorf("VirtualIP %q is invalid: %w", v.Name, errs.ToAggregate())
	}
	return nil
}

func validate(v *vrrpv1.VirtualIP) field.ErrorList {
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if v.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(v.Name) {
			errs = append(errs, field.Invalid(meta.Child("name"), v.Name, msg))
		}
	}
	return append(errs, validateSpec(&v.Spec, field.NewPath("spec"))...)
}

func validateSpec(s *vrrpv1.VirtualIPSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.VirtualRouterID < 1 || s.VirtualRouterID > 255 {
		errs = append(errs, field.Invalid(p.Child("virtualRouterID"), s.VirtualRouterID, "must be between 1 and 255"))
	}
	if s.Version != vrrpv1.VRRPv2 && s.Version != vrrpv1.VRRPv3 {
		errs = append(errs, field.NotSupported(p.Child("version"), s.Version, []string{"2", "3"}))
	}
	errs = append(errs, validateAddresses(s, p.Child("addresses"))...)
	if n := len(s.Interface); n > maxInterface {
		errs = append(errs, field.TooLong(p.Child("interface"), s.Interface, maxInterface))
	} else if !interfacePattern.MatchString(s.Interface) {
		errs = append(errs, field.Invalid(p.Child("interface"), s.Interface, "must not contain '/', ':' or white space"))
	}
	if s.AdvertInterval != nil {
		errs = append(errs, validateInterval(s.Version, s.AdvertInterval.Duration, p.Child("advertInterval"))...)
	}
	if s.Priority < 1 || s.Priority > 254 {
		errs = append(errs, field.Invalid(p.Child("priority"), s.Priority, "must be between 1 and 254: 255 is the address owner's"))
	}
	errs = append(errs, validateNodePriorities(s.NodePriorities, p.Child("nodePriorities"))...)
	if s.NodeSelector != nil {
		errs = append(errs, validateSelector(s.NodeSelector, p.Child("nodeSelector"))...)
	}
	if d := s.PreemptDelay; d != nil && (d.Duration < 0 || d.Duration > time.Hour) {
		errs = append(errs, field.Invalid(p.Child("preemptDelay"), d, "preemptDelay must be at most 1h"))
	}
	if a := s.Authentication; a != nil {
		errs = append(errs, validateAuthentication(a, s.Version, p.Child("authentication"))...)
	}
	switch s.V3IPv4Checksum {
	case vrrpv1.ChecksumPseudoHeader, vrrpv1.ChecksumNoPseudoHeader:
	default:
		errs = append(errs, field.NotSupported(p.Child("v3IPv4Checksum"), s.V3IPv4Checksum,
			[]vrrpv1.ChecksumMode{vrrpv1.ChecksumPseudoHeader, vrrpv1.ChecksumNoPseudoHeader}))
	}
	if f := s.Failover; f != nil {
		switch f.OnCordon {
		case vrrpv1.CordonDemote, vrrpv1.CordonRelease, vrrpv1.CordonIgnore:
		default:
			errs = append(errs, field.NotSupported(p.Child("failover", "onCordon"), f.OnCordon,
				[]vrrpv1.CordonPolicy{vrrpv1.CordonDemote, vrrpv1.CordonRelease, vrrpv1.CordonIgnore}))
		}
	}
	if g := s.GARP; g != nil {
		errs = append(errs, validateGARP(g, p.Child("garp"))...)
	}
	if h := s.Hooks; h != nil {
		errs = append(errs, validateHooks(h, p.Child("hooks"))...)
	}
	return append(errs, validateTrack(s.Track, p.Child("track"))...)
}

// validateAddresses mirrors the schema (an IP or CIDR each, a set of 1 to 16) and the CEL family
// rules, which tell the families apart by ':' as the CRD does.
func validateAddresses(s *vrrpv1.VirtualIPSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch n := len(s.Addresses); {
	case n == 0:
		return append(errs, field.Required(p, "at least one address"))
	case n > maxAddresses:
		// The checks below compare every pair: a range of thousands would take seconds.
		return append(errs, field.TooMany(p, n, maxAddresses))
	}
	for i, a := range s.Addresses {
		switch {
		case len(a) > maxAddressLength:
			errs = append(errs, field.TooLong(p.Index(i), a, maxAddressLength))
		case !isIPOrCIDR(a):
			errs = append(errs, field.Invalid(p.Index(i), a, "each address must be an IP address or CIDR, such as 198.51.100.10/24"))
		case slices.Contains(s.Addresses[:i], a):
			errs = append(errs, field.Duplicate(p.Index(i), a))
		default:
			if msg := unusable(a); msg != "" {
				errs = append(errs, field.Invalid(p.Index(i), a, msg))
			}
		}
	}
	if twice(s.Addresses) {
		errs = append(errs, field.Invalid(p, s.Addresses, "addresses must name each IP once, with one prefix length: 198.51.100.252/24 and 198.51.100.252/32 are one IP"))
	}
	v6 := func(a string) bool { return strings.Contains(a, ":") }
	hasV6 := slices.ContainsFunc(s.Addresses, v6)
	hasV4 := slices.ContainsFunc(s.Addresses, func(a string) bool { return !v6(a) })
	switch {
	case hasV6 && hasV4:
		errs = append(errs, field.Invalid(p, s.Addresses, "addresses must all be IPv4 or all IPv6: one virtual router speaks one family"))
	case hasV6 && s.Version == vrrpv1.VRRPv2:
		errs = append(errs, field.Invalid(p, s.Addresses, "addresses must be IPv4 with version 2: VRRPv2 carries IPv4 only"))
	}
	return errs
}

// unusable mirrors the CRD's rules on an address no node can hold for others: the message of the
// rule it breaks, or "" for a usable one. a must be an IP or CIDR.
func unusable(a string) string {
	p, err := desired.ParseAddress(a)
	if err != nil {
		return ""
	}
	switch ip := p.Addr(); {
	case ip.IsMulticast():
		return "each address must be unicast: a multicast address (224.0.0.0/4, ff00::/8) cannot be a virtual IP"
	case ip.IsLoopback():
		return "each address must not be a loopback address (127.0.0.0/8, ::1): other nodes cannot reach it"
	case ip.Is4() && ip.IsLinkLocalUnicast():
		return "each address must not be an IPv4 link-local address (169.254.0.0/16)"
	case ip.IsUnspecified():
		return "each address must not be the unspecified address (0.0.0.0, ::)"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "each address must not be the limited broadcast address 255.255.255.255"
	}
	return ""
}

// twice mirrors the CRD's rule that names each IP once: the same IP with two prefix lengths, or
// spelt two ways, is one address. Exact repeats are field.Duplicate already, as the API server's
// listType=set makes them; the CRD's rule reports them too.
func twice(addrs []string) bool {
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		p, err := desired.ParseAddress(a)
		if err != nil {
			continue
		}
		if seen[p.Addr()] {
			return true
		}
		seen[p.Addr()] = true
	}
	return false
}

// isIPOrCIDR is the CRD's isIP(self) || isCIDR(self): no zones, no IPv4-mapped IPv6.
func isIPOrCIDR(s string) bool {
	p, err := desired.ParseAddress(s)
	return err == nil && !p.Addr().Is4In6()
}

func validateInterval(version vrrpv1.VRRPVersion, d time.Duration, p *field.Path) field.ErrorList {
	switch {
	case d < 10*time.Millisecond:
		return field.ErrorList{field.Invalid(p, d.String(), "advertInterval must be at least 10ms")}
	case version == vrrpv1.VRRPv2 && (d%time.Second != 0 || d > 255*time.Second):
		return field.ErrorList{field.Invalid(p, d.String(), "advertInterval must be whole seconds from 1s to 255s with version 2")}
	case version == vrrpv1.VRRPv3 && (d%(10*time.Millisecond) != 0 || d > 40950*time.Millisecond):
		return field.ErrorList{field.Invalid(p, d.String(), "advertInterval must be a multiple of 10ms up to 40.95s with version 3")}
	}
	return nil
}

func validateNodePriorities(nps []vrrpv1.NodePriority, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(nps) > maxNodePriorities {
		errs = append(errs, field.TooMany(p, len(nps), maxNodePriorities))
	}
	for i, np := range nps {
		ip := p.Index(i)
		if (np.Node != "") == (np.Selector != nil) {
			errs = append(errs, field.Invalid(ip, np, "each nodePriorities entry needs exactly one of node or selector"))
		}
		if len(np.Node) > maxNameLength {
			errs = append(errs, field.TooLong(ip.Child("node"), np.Node, maxNameLength))
		}
		if np.Node != "" && slices.ContainsFunc(nps[:i], func(o vrrpv1.NodePriority) bool { return o.Node == np.Node }) {
			errs = append(errs, field.Invalid(ip.Child("node"), np.Node, "nodePriorities must not name the same node twice"))
		}
		if np.Selector != nil {
			errs = append(errs, validateSelector(np.Selector, ip.Child("selector"))...)
		}
		if np.Priority < 1 || np.Priority > 254 {
			errs = append(errs, field.Invalid(ip.Child("priority"), np.Priority, "must be between 1 and 254: 255 is the address owner's"))
		}
	}
	return errs
}

func validateSelector(s *metav1.LabelSelector, p *field.Path) field.ErrorList {
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		return field.ErrorList{field.Invalid(p, s, err.Error())}
	}
	return nil
}

func validateAuthentication(a *vrrpv1.Authentication, version vrrpv1.VRRPVersion, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if version != vrrpv1.VRRPv2 {
		errs = append(errs, field.Forbidden(p, "authentication (PASS) requires version 2: VRRPv3 has no authentication"))
	}
	if a.Type != vrrpv1.AuthenticationPass {
		errs = append(errs, field.NotSupported(p.Child("type"), a.Type, []vrrpv1.AuthenticationType{vrrpv1.AuthenticationPass}))
	}
	ref, rp := a.SecretRef, p.Child("secretRef")
	for _, f := range []struct {
		name, value string
		max         int
	}{{"name", ref.Name, maxNameLength}, {"namespace", ref.Namespace, maxNamespace}} {
		switch {
		case f.value == "":
			errs = append(errs, field.Required(rp.Child(f.name), ""))
		case len(f.value) > f.max:
			errs = append(errs, field.TooLong(rp.Child(f.name), f.value, f.max))
		}
	}
	if len(ref.Key) > maxNameLength {
		errs = append(errs, field.TooLong(rp.Child("key"), ref.Key, maxNameLength))
	}
	return errs
}

func validateGARP(g *vrrpv1.GARP, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if g.Count < 1 || g.Count > maxGARPCount {
		errs = append(errs, field.Invalid(p.Child("count"), g.Count, fmt.Sprintf("must be between 1 and %d", maxGARPCount)))
	}
	if d := g.Interval; d != nil && (d.Duration < 10*time.Millisecond || d.Duration > time.Minute) {
		errs = append(errs, field.Invalid(p.Child("interval"), d, "garp.interval must be between 10ms and 1m"))
	}
	if d := g.Refresh; d != nil && d.Duration != 0 && d.Duration < time.Second {
		errs = append(errs, field.Invalid(p.Child("refresh"), d, "garp.refresh must be 0 (off) or at least 1s"))
	}
	return errs
}

func validateHooks(h *vrrpv1.Hooks, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, hook := range []struct {
		name string
		h    *vrrpv1.Hook
	}{{"notify", h.Notify}, {"master", h.Master}, {"backup", h.Backup}, {"fault", h.Fault}, {"stop", h.Stop}} {
		if hook.h == nil {
			continue
		}
		cp := p.Child(hook.name, "command")
		switch n := len(hook.h.Command); {
		case n == 0:
			errs = append(errs, field.Required(cp, "the program to run"))
		case n > maxHookArgs:
			errs = append(errs, field.TooMany(cp, n, maxHookArgs))
		}
		for i, arg := range hook.h.Command {
			switch {
			case arg == "":
				errs = append(errs, field.Invalid(cp.Index(i), arg, "must not be empty"))
			case len(arg) > maxHookArgLength:
				errs = append(errs, field.TooLong(cp.Index(i), arg, maxHookArgLength))
			}
		}
	}
	if d := h.Timeout; d != nil && (d.Duration <= 0 || d.Duration > time.Hour) {
		errs = append(errs, field.Invalid(p.Child("timeout"), d, "hooks.timeout must be positive and at most 1h"))
	}
	return errs
}

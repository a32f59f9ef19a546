package manifests

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Limits of spec.track (the markers of api/v1alpha1's Check and its kinds).
const (
	maxChecks         = 16
	maxCheckName      = 63
	maxWeight         = 253
	maxRiseFall       = 100
	maxCheckArgs      = 32
	maxCheckArgLength = 1024
	maxURLLength      = 1024
	maxStatuses       = 16
	maxTCPAddress     = 53
	maxPathLength     = 1024
	minPathLength     = 2
	maxSelectorTerms  = 16
	maxSelectorValues = 64
	maxLabelKey       = 317 // a DNS subdomain (253), '/' and a name (63)
	maxLabelPrefix    = 253
	maxLabelValue     = 63

	// defaultCheckInterval is what the CRD's timeout rule compares with when interval is absent.
	defaultCheckInterval = time.Second
)

// The CRD's patterns for spec.track, kept as text for the API server's wording of a mismatch.
const (
	dnsLabelPattern       = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	checkInterfacePattern = `^[^/\s:]+$`
	filePathPattern       = `^/`
	// probeURLPattern is the shape the http.url rule requires; its first group is the host.
	probeURLPattern = `^https?://(localhost|[0-9.]+|[[][0-9a-fA-F:.]+[]])(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/.*)?$`
	// tcpAddressPattern is the shape the tcp.address rule requires: brackets only around IPv6.
	tcpAddressPattern = `^([0-9.]+|[[][0-9a-fA-F.]*:[0-9a-fA-F:.]*[]]):[0-9]{1,5}$`
	// labelKeyPattern is the pods.selector key rule's: validation.IsQualifiedName but for the
	// prefix's length, which the rule tests apart.
	labelKeyPattern = `^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$`
	// labelValuePattern is LabelValue's: validation.IsValidLabelValue but for the length.
	labelValuePattern = `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
)

var (
	dnsLabelRE       = regexp.MustCompile(dnsLabelPattern)
	checkInterfaceRE = regexp.MustCompile(checkInterfacePattern)
	probeURLRE       = regexp.MustCompile(probeURLPattern)
	tcpAddressRE     = regexp.MustCompile(tcpAddressPattern)
	labelKeyRE       = regexp.MustCompile(labelKeyPattern)
	labelValueRE     = regexp.MustCompile(labelValuePattern)
)

// The messages of the CRD's CEL rules on spec.track.
const (
	msgOneKind        = "each check needs exactly one of exec, http, tcp, interface, file or pods"
	msgTimeout        = "timeout must not be longer than interval (1s when absent)"
	msgWatched        = "interface and pods checks are watched: interval, timeout, rise and fall do not apply"
	msgInterval       = "interval must be between 100ms and 1h"
	msgCheckTimeout   = "timeout must be between 10ms and 1h"
	msgURL            = "url must be an http or https URL whose host is an IP address or localhost, with a port from 1 to 65535 if any, such as http://127.0.0.1:8404/healthz"
	msgTCPAddress     = "address must be IP:port or [IPv6]:port with a port from 1 to 65535, such as 127.0.0.1:5432"
	msgSelectorEmpty  = "pods.selector must not be empty"
	msgSelectorOp     = "pods.selector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	msgSelectorValues = "pods.selector.matchExpressions values must be empty with Exists and DoesNotExist, and not empty with In and NotIn"
	msgSelectorKey    = "pods.selector label keys must be a name of 1 to 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit, after an optional DNS subdomain of at most 253 characters and '/', such as app.kubernetes.io/name"
)

// validateTrack mirrors the schema and CEL rules of spec.track: a map list keyed by name of at most
// 16 checks.
func validateTrack(checks []vrrpv1.Check, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if n := len(checks); n > maxChecks {
		errs = append(errs, field.TooMany(p, n, maxChecks))
	}
	seen := make(map[string]bool, len(checks))
	for i := range checks {
		c, ip := &checks[i], p.Index(i)
		errs = append(errs, validateCheck(c, ip)...)
		if seen[c.Name] {
			errs = append(errs, field.Duplicate(ip, map[string]any{"name": c.Name}))
		}
		seen[c.Name] = true
	}
	return errs
}

func validateCheck(c *vrrpv1.Check, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateLabelLike(c.Name, maxCheckName, p.Child("name"))...)
	if w := c.Weight; w != nil {
		errs = append(errs, inRange(int64(*w), -maxWeight, maxWeight, p.Child("weight"))...)
	}
	if d := c.Interval; d != nil && (d.Duration < 100*time.Millisecond || d.Duration > time.Hour) {
		errs = append(errs, field.Invalid(p.Child("interval"), d.Duration.String(), msgInterval))
	}
	if d := c.Timeout; d != nil && (d.Duration < 10*time.Millisecond || d.Duration > time.Hour) {
		errs = append(errs, field.Invalid(p.Child("timeout"), d.Duration.String(), msgCheckTimeout))
	}
	if r := c.Rise; r != nil {
		errs = append(errs, inRange(int64(*r), 1, maxRiseFall, p.Child("rise"))...)
	}
	if f := c.Fall; f != nil {
		errs = append(errs, inRange(int64(*f), 1, maxRiseFall, p.Child("fall"))...)
	}

	kinds := 0
	if e := c.Exec; e != nil {
		kinds++
		errs = append(errs, validateArgv(e.Command, p.Child("exec", "command"))...)
	}
	if h := c.HTTP; h != nil {
		kinds++
		errs = append(errs, validateHTTPCheck(h, p.Child("http"))...)
	}
	if t := c.TCP; t != nil {
		kinds++
		ap := p.Child("tcp", "address")
		switch {
		case len(t.Address) > maxTCPAddress:
			errs = append(errs, field.TooLong(ap, t.Address, maxTCPAddress))
		case !isTCPAddress(t.Address):
			errs = append(errs, field.Invalid(ap, t.Address, msgTCPAddress))
		}
	}
	if in := c.Interface; in != nil {
		kinds++
		np := p.Child("interface", "name")
		switch {
		case in.Name == "":
			errs = append(errs, field.Required(np, ""))
		case len(in.Name) > maxInterface:
			errs = append(errs, field.TooLong(np, in.Name, maxInterface))
		case !checkInterfaceRE.MatchString(in.Name):
			errs = append(errs, patternMismatch(np, in.Name, checkInterfacePattern))
		}
	}
	if f := c.File; f != nil {
		kinds++
		fp := p.Child("file", "path")
		switch {
		case f.Path == "":
			errs = append(errs, field.Required(fp, ""))
		case len(f.Path) < minPathLength:
			errs = append(errs, field.Invalid(fp, f.Path, fmt.Sprintf("%s in body should be at least %d chars long", fp, minPathLength)))
		case len(f.Path) > maxPathLength:
			errs = append(errs, field.TooLong(fp, f.Path, maxPathLength))
		}
		if !strings.HasPrefix(f.Path, "/") {
			errs = append(errs, patternMismatch(fp, f.Path, filePathPattern))
		}
	}
	if pods := c.Pods; pods != nil {
		kinds++
		errs = append(errs, validatePodsCheck(pods, p.Child("pods"))...)
	}

	// The CRD's rules on the check as a whole, in their order.
	if kinds != 1 {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, msgOneKind))
	}
	interval := defaultCheckInterval
	if c.Interval != nil {
		interval = c.Interval.Duration
	}
	if c.Timeout != nil && c.Timeout.Duration > interval {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, msgTimeout))
	}
	if (c.Interface != nil || c.Pods != nil) && (c.Interval != nil || c.Timeout != nil || c.Rise != nil || c.Fall != nil) {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, msgWatched))
	}
	return errs
}

// validateArgv mirrors an argv list of 1 to 32 arguments of 1 to 1024 bytes.
func validateArgv(argv []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch n := len(argv); {
	case argv == nil:
		errs = append(errs, field.Required(p, "the program to run"))
	case n == 0:
		errs = append(errs, field.Invalid(p, n, fmt.Sprintf("%s in body should have at least 1 items", p)))
	case n > maxCheckArgs:
		errs = append(errs, field.TooMany(p, n, maxCheckArgs))
	}
	for i, arg := range argv {
		switch {
		case arg == "":
			errs = append(errs, field.Invalid(p.Index(i), arg, fmt.Sprintf("%s in body should be at least 1 chars long", p.Index(i))))
		case len(arg) > maxCheckArgLength:
			errs = append(errs, field.TooLong(p.Index(i), arg, maxCheckArgLength))
		}
	}
	return errs
}

func validateHTTPCheck(h *vrrpv1.HTTPCheck, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	up := p.Child("url")
	switch {
	case len(h.URL) > maxURLLength:
		errs = append(errs, field.TooLong(up, h.URL, maxURLLength))
	case !isProbeURL(h.URL):
		errs = append(errs, field.Invalid(up, h.URL, msgURL))
	}
	sp := p.Child("expectedStatus")
	if n := len(h.ExpectedStatus); n > maxStatuses {
		errs = append(errs, field.TooMany(sp, n, maxStatuses))
	}
	seen := make(map[int32]bool, len(h.ExpectedStatus))
	for i, st := range h.ExpectedStatus {
		errs = append(errs, inRange(int64(st), 100, 599, sp.Index(i))...)
		if seen[st] {
			errs = append(errs, field.Duplicate(sp.Index(i), st))
		}
		seen[st] = true
	}
	return errs
}

func validatePodsCheck(pods *vrrpv1.PodsCheck, p *field.Path) field.ErrorList {
	errs := validateLabelLike(pods.Namespace, maxNamespace, p.Child("namespace"))
	s, sp, before := &pods.Selector, p.Child("selector"), len(errs)
	lp, ep := sp.Child("matchLabels"), sp.Child("matchExpressions")
	if n := len(s.MatchLabels); n > maxSelectorTerms {
		errs = append(errs, field.TooMany(lp, n, maxSelectorTerms))
	}
	// matchLabels' rule on its keys (one error for the map, as the API server gives), then each
	// value's schema.
	keysOK := true
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		keysOK = keysOK && isLabelKey(k)
		errs = append(errs, validateLabelValue(s.MatchLabels[k], lp.Child(k))...)
	}
	if !keysOK {
		errs = append(errs, field.Invalid(lp, field.OmitValueType{}, msgSelectorKey))
	}
	if n := len(s.MatchExpressions); n > maxSelectorTerms {
		errs = append(errs, field.TooMany(ep, n, maxSelectorTerms))
	}
	for i, e := range s.MatchExpressions {
		kp, vp := ep.Index(i).Child("key"), ep.Index(i).Child("values")
		switch k := string(e.Key); {
		case len(k) > maxLabelKey:
			errs = append(errs, field.TooLong(kp, k, maxLabelKey))
		case !isLabelKey(k):
			errs = append(errs, field.Invalid(kp, k, msgSelectorKey))
		}
		if n := len(e.Values); n > maxSelectorValues {
			errs = append(errs, field.TooMany(vp, n, maxSelectorValues))
		}
		for j, v := range e.Values {
			errs = append(errs, validateLabelValue(v, vp.Index(j))...)
		}
	}
	// The CRD's three rules on the selector, then a parse, as for nodeSelector: the schema and
	// rules above leave it nothing to find, but what it finds no agent could watch.
	if len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return append(errs, field.Invalid(sp, field.OmitValueType{}, msgSelectorEmpty))
	}
	known, valued := true, true
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case "In", "NotIn":
			valued = valued && len(e.Values) > 0
		case "Exists", "DoesNotExist":
			valued = valued && len(e.Values) == 0
		default:
			known = false
		}
	}
	if !known {
		errs = append(errs, field.Invalid(sp, field.OmitValueType{}, msgSelectorOp))
	}
	if !valued {
		errs = append(errs, field.Invalid(sp, field.OmitValueType{}, msgSelectorValues))
	}
	if len(errs) == before {
		errs = append(errs, validateSelector(s.LabelSelector(), sp)...)
	}
	return errs
}

// isLabelKey is the CRD's rule on a pods.selector key: labelKeyPattern and a prefix of at most
// 253 characters, within 317 in all.
func isLabelKey(k string) bool {
	return len(k) <= maxLabelKey && labelKeyRE.MatchString(k) && strings.IndexByte(k, '/') <= maxLabelPrefix
}

// validateLabelValue mirrors LabelValue's schema: at most 63 characters of labelValuePattern.
func validateLabelValue(v vrrpv1.LabelValue, p *field.Path) field.ErrorList {
	switch {
	case len(v) > maxLabelValue:
		return field.ErrorList{field.TooLong(p, string(v), maxLabelValue)}
	case !labelValueRE.MatchString(string(v)):
		return field.ErrorList{patternMismatch(p, string(v), labelValuePattern)}
	}
	return nil
}

// validateLabelLike mirrors a required name of 1 to max characters with the DNS label pattern.
func validateLabelLike(v string, maxLen int, p *field.Path) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case len(v) > maxLen:
		return field.ErrorList{field.TooLong(p, v, maxLen)}
	case !dnsLabelRE.MatchString(v):
		return field.ErrorList{patternMismatch(p, v, dnsLabelPattern)}
	}
	return nil
}

// inRange mirrors a schema's minimum and maximum, in the API server's words.
func inRange(v, lo, hi int64, p *field.Path) field.ErrorList {
	switch {
	case v < lo:
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("%s in body should be greater than or equal to %d", p, lo))}
	case v > hi:
		return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("%s in body should be less than or equal to %d", p, hi))}
	}
	return nil
}

func patternMismatch(p *field.Path, v, pattern string) *field.Error {
	return field.Invalid(p, v, fmt.Sprintf("%s in body should match '%s'", p, pattern))
}

// isProbeURL is the CRD's http.url rule: isURL (url.ParseRequestURI), the shape of
// probeURLPattern, and a host that is localhost or passes isIP.
func isProbeURL(s string) bool {
	if _, err := url.ParseRequestURI(s); err != nil {
		return false
	}
	m := probeURLRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	host := m[1]
	return host == "localhost" || isIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
}

// isTCPAddress is the CRD's tcp.address rule: the shape of tcpAddressPattern, an IP that passes
// isIP before the last colon and a port from 1 to 65535 after it.
func isTCPAddress(s string) bool {
	if !tcpAddressRE.MatchString(s) {
		return false
	}
	i := strings.LastIndexByte(s, ':')
	port, err := strconv.Atoi(s[i+1:])
	return err == nil && port >= 1 && port <= 65535 && isIP(strings.NewReplacer("[", "", "]", "").Replace(s[:i]))
}

// isIP is the API server's CEL isIP: netip's syntax, without a zone or an IPv4-mapped IPv6 address.
func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == "" && !a.Is4In6()
}

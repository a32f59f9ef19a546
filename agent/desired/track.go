package desired

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/track"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Limits of spec.track (api/v1alpha1 markers).
const (
	maxChecks    = 16
	maxWeight    = 253
	maxRiseFall  = 100
	maxFileValue = 1 << 20
)

// ReasonCheckWeight explains a priority that the weights of spec.track moved.
const ReasonCheckWeight = "CheckWeight"

// checks turns spec.track into the checks this node runs, with keepalived's defaults (interval 1 s,
// timeout the interval, rise and fall 1). Pods checks need the cluster: standalone refuses them.
func checks(spec []vrrpv1.Check, standalone bool) ([]track.Check, error) {
	if len(spec) > maxChecks {
		return nil, fmt.Errorf("track has %d checks, at most %d: %w", len(spec), maxChecks, ErrInvalidSpec)
	}
	var out []track.Check
	for i := range spec {
		c, err := check(&spec[i], standalone)
		if err != nil {
			return nil, fmt.Errorf("track[%d] %q: %w: %w", i, spec[i].Name, err, ErrInvalidSpec)
		}
		if slices.ContainsFunc(out, func(o track.Check) bool { return o.Name == c.Name }) {
			return nil, fmt.Errorf("track[%d]: the name %q is used twice: %w", i, c.Name, ErrInvalidSpec)
		}
		out = append(out, c)
	}
	return out, nil
}

func check(s *vrrpv1.Check, standalone bool) (track.Check, error) {
	c := track.Check{Name: s.Name, Interval: duration(s.Interval, track.DefaultInterval),
		Rise: track.DefaultRise, Fall: track.DefaultFall}
	if s.Name == "" {
		return c, fmt.Errorf("no name")
	}
	if s.Weight != nil {
		c.Weight = int(*s.Weight)
	}
	if c.Weight < -maxWeight || c.Weight > maxWeight {
		return c, fmt.Errorf("weight %d is not in -%d..%d", c.Weight, maxWeight, maxWeight)
	}
	if s.Rise != nil {
		c.Rise = int(*s.Rise)
	}
	if s.Fall != nil {
		c.Fall = int(*s.Fall)
	}
	if c.Rise < 1 || c.Rise > maxRiseFall || c.Fall < 1 || c.Fall > maxRiseFall {
		return c, fmt.Errorf("rise %d and fall %d must be in 1..%d", c.Rise, c.Fall, maxRiseFall)
	}
	c.Timeout = duration(s.Timeout, c.Interval)
	if c.Interval <= 0 || c.Timeout <= 0 || c.Timeout > c.Interval {
		return c, fmt.Errorf("interval %s and timeout %s must be positive, the timeout no longer than the interval", c.Interval, c.Timeout)
	}
	kinds := 0
	if e := s.Exec; e != nil {
		kinds++
		c.Kind, c.Command = track.KindExec, slices.Clone(e.Command)
		if len(c.Command) == 0 || c.Command[0] == "" {
			return c, fmt.Errorf("exec.command is empty")
		}
	}
	if h := s.HTTP; h != nil {
		kinds++
		c.Kind, c.URL = track.KindHTTP, h.URL
		if err := checkURL(h.URL); err != nil {
			return c, err
		}
		for _, st := range h.ExpectedStatus {
			if st < 100 || st > 599 {
				return c, fmt.Errorf("http.expectedStatus %d is not an HTTP status", st)
			}
			c.ExpectedStatus = append(c.ExpectedStatus, int(st))
		}
	}
	if t := s.TCP; t != nil {
		kinds++
		c.Kind, c.Address = track.KindTCP, t.Address
		if ap, err := netip.ParseAddrPort(t.Address); err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			return c, fmt.Errorf("tcp.address %q is not IP:port or [IPv6]:port with a port from 1 to 65535", t.Address)
		}
	}
	if i := s.Interface; i != nil {
		kinds++
		c.Kind, c.Interface = track.KindInterface, i.Name
		if i.Name == "" || len(i.Name) > 15 || strings.ContainsAny(i.Name, "/: \t\n") {
			return c, fmt.Errorf("interface.name %q is not an interface name", i.Name)
		}
	}
	if f := s.File; f != nil {
		kinds++
		c.Kind, c.Path = track.KindFile, f.Path
		if !path.IsAbs(f.Path) {
			return c, fmt.Errorf("file.path %q is not absolute", f.Path)
		}
	}
	if p := s.Pods; p != nil {
		kinds++
		c.Kind, c.Namespace = track.KindPods, p.Namespace
		if standalone {
			return c, fmt.Errorf("pods checks need the agent in a cluster: a standalone agent has no pods to watch")
		}
		if len(p.Selector.MatchLabels) == 0 && len(p.Selector.MatchExpressions) == 0 {
			return c, fmt.Errorf("pods.selector is empty")
		}
		// The API server refuses a selector that does not parse, but one stored under an older
		// CRD may remain: it leaves the check Unknown with why, on every node alike, instead of
		// stopping the router everywhere.
		if sel, err := metav1.LabelSelectorAsSelector(p.Selector.LabelSelector()); err != nil {
			c.Invalid = fmt.Sprintf("not run: pods.selector: %v", err)
		} else {
			c.Selector = sel
		}
	}
	if kinds != 1 {
		return c, fmt.Errorf("needs exactly one of exec, http, tcp, interface, file or pods, has %d", kinds)
	}
	return c, nil
}

// checkURL is the CRD's rule: http or https, with an IP address or localhost as the host, and a
// port, if any, from 1 to 65535 (the agent could dial no other).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("http.url: %w", err)
	}
	host := u.Hostname()
	_, ipErr := netip.ParseAddr(host)
	port, portErr := 1, error(nil)
	if p := u.Port(); p != "" {
		port, portErr = strconv.Atoi(p)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || (host != "localhost" && ipErr != nil) || portErr != nil || port < 1 || port > 65535 {
		return fmt.Errorf("http.url %q must be an http or https URL whose host is an IP address or localhost, with a port from 1 to 65535 if any", s)
	}
	return nil
}

// Track applies the checks' results (a check without one is Unknown) to routers, and returns them
// without touching routers. It is where tracking meets priority, as keepalived computes it:
//   - a check with a negative weight adds it while failing, one with a positive weight while
//     passing (Unknown, before the first run, adds neither and faults nothing); a file check with a weight adds weight times the number
//     the file holds;
//   - a failing check without a weight puts the router in FAULT (CheckFault), and so does a file
//     check whose product is -254 or less, as keepalived's;
//   - the effective priority stays within 1..254; a cordoned (Demote) node stays at its priority 1
//     and a released one stays out;
//   - a router whose checks could favour another node (a positive weight, a check not run yet) or
//     lower this one does not start as Master: only its base priority was compared.
func Track(routers []Router, results map[track.Key]track.Result) []Router {
	out := slices.Clone(routers)
	for i := range out {
		r := &out[i]
		if len(r.Checks) == 0 {
			continue
		}
		sum, uncertain := 0, false
		var faults []string
		r.CheckStates = make([]CheckState, 0, len(r.Checks))
		for _, c := range r.Checks {
			res := results[track.Key{Router: r.Name, Check: c.Name}]
			if c.Invalid != "" {
				res = track.Result{Message: c.Invalid}
			}
			w, fault := contribution(c, res)
			if fault != "" {
				faults = append(faults, fault)
			}
			sum += w
			uncertain = uncertain || c.Weight > 0 || c.Kind == track.KindFile && c.Weight != 0 || res.State == track.Unknown
			r.CheckStates = append(r.CheckStates, CheckState{Name: c.Name, Result: res, Weight: w})
		}
		r.CheckFault = strings.Join(faults, "; ")
		if uncertain || sum < 0 || r.CheckFault != "" {
			r.Config.StartAsMaster = false
		}
		if r.Released || r.Resign || sum == 0 {
			continue
		}
		r.Config.Priority = uint8(min(max(int(r.Config.Priority)+sum, 1), PreferredPriority))
		if r.Reason == "" {
			r.Reason = ReasonCheckWeight
		}
	}
	return out
}

// contribution is what check c with result res adds to the priority, and why it puts the router in
// FAULT ("" when it does not).
func contribution(c track.Check, res track.Result) (weight int, fault string) {
	failing := res.State == track.Failing
	switch {
	case c.Kind == track.KindFile && c.Weight != 0:
		if failing {
			return 0, "" // no number to multiply: the check's state says why
		}
		w := max(min(res.Value, maxFileValue), -maxFileValue) * c.Weight
		if w <= -254 {
			return 0, fmt.Sprintf("check %s: the file's %d times weight %d is %d, -254 or less", c.Name, res.Value, c.Weight, w)
		}
		return w, ""
	case c.Weight == 0:
		if failing {
			return 0, "check " + c.Name + " failing" + suffix(res.Message)
		}
		return 0, ""
	case c.Weight < 0 && failing, c.Weight > 0 && res.State == track.Passing:
		// A positive weight waits for a passing run, as keepalived adds none before a script's
		// first result.
		return c.Weight, ""
	}
	return 0, ""
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// Package track runs the health checks of spec.track on this node (keepalived's vrrp_script,
// track_interface and track_file, plus pods on the node) and keeps each one's state with
// keepalived's rise and fall. It decides nothing about priorities: agent/desired turns the states
// into each router's effective priority, in one pure place.
package track

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// Kind is what a check looks at.
type Kind string

const (
	KindExec      Kind = "exec"
	KindHTTP      Kind = "http"
	KindTCP       Kind = "tcp"
	KindInterface Kind = "interface"
	KindFile      Kind = "file"
	KindPods      Kind = "pods"
)

// Defaults of spec.track (keepalived's vrrp_script: interval 1 s, timeout the interval, rise and
// fall 1).
const (
	DefaultInterval = time.Second
	DefaultRise     = 1
	DefaultFall     = 1
)

// Check is one spec.track entry of one router, defaults applied. Two Checks that are Equal run as
// one; a changed one starts over from its last Result (Manager.Sync).
type Check struct {
	Name string
	Kind Kind
	// Weight is added to the priority while failing (negative) or passing (positive); 0: failing
	// puts the router in FAULT. A file check multiplies it by the number the file holds.
	Weight   int
	Interval time.Duration // exec, http, tcp, file
	Timeout  time.Duration // exec, http, tcp, file
	Rise     int           // exec, http, tcp, file
	Fall     int           // exec, http, tcp, file

	Command        []string // exec: argv, Command[0] inside the hook directory
	URL            string   // http
	ExpectedStatus []int    // http; empty: 200-399
	Address        string   // tcp: IP:port
	Interface      string   // interface
	Path           string   // file
	Namespace      string   // pods
	Selector       labels.Selector
	// Invalid says why the check cannot run (a pods selector the API server admitted but that
	// does not parse); it is not run and stays Unknown, adding nothing, rather than stop the router.
	Invalid string
}

// State is a check's state.
type State int

const (
	// Unknown: no run has finished yet. It counts as passing, as keepalived's scripts do without
	// init_fail.
	Unknown State = iota
	Passing
	Failing
)

func (s State) String() string {
	switch s {
	case Passing:
		return "Passing"
	case Failing:
		return "Failing"
	}
	return "Unknown"
}

// Result is what a check has found.
type Result struct {
	State State
	// Since is when State last changed; zero while Unknown.
	Since time.Time
	// Message is the last line of output, the HTTP status or the error of the run that changed
	// State; runs that keep the state do not change it, so that status is not rewritten every
	// interval. A file check's says what the file holds and follows it, as Value does.
	Message string
	// Value is, for a file check, the number the file holds (0 when it holds none).
	Value int
}

// Key names one check of one router.
type Key struct {
	Router string // the VirtualIP's name
	Check  string
}

// Equal reports whether a and b run the same check.
func (c Check) Equal(o Check) bool {
	sel := func(s labels.Selector) string {
		if s == nil {
			return ""
		}
		return s.String()
	}
	return c.Name == o.Name && c.Kind == o.Kind && c.Weight == o.Weight && c.Interval == o.Interval &&
		c.Timeout == o.Timeout && c.Rise == o.Rise && c.Fall == o.Fall && slices.Equal(c.Command, o.Command) &&
		c.URL == o.URL && slices.Equal(c.ExpectedStatus, o.ExpectedStatus) && c.Address == o.Address &&
		c.Interface == o.Interface && c.Path == o.Path && c.Namespace == o.Namespace && sel(c.Selector) == sel(o.Selector) && c.Invalid == o.Invalid
}

// PodSource tells whether a Ready pod that matches a selector runs on this node; agent/kube watches
// the node's pods for it. Standalone agents have none, and their pods checks fail.
type PodSource interface {
	// Watch calls onChange with the current answer soon after it is called, and again on every
	// change, until cancel is called. detail names the pod found, or says why none counts. It must
	// not block, and onChange must not block either.
	Watch(namespace string, selector labels.Selector, onChange func(ready bool, detail string)) (cancel func())
}

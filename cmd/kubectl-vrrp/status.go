package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

var statusCommand = command{
	name:  "status",
	usage: "[NAME] [-o json|yaml]",
	short: "Show each VirtualIP's state on every node: priority and why, interface, last transition and hook; flag problems.",
	long: `Problems are split brain (several MASTERs), no Master, VRID conflicts, nodes in FAULT, failed hooks,
an invalid spec and flapping (gaps without one Master that keep coming), as the controller's Degraded
condition and the agents' entries tell. The exit code is 4
when any VirtualIP shown has one: Degraded True, a node in FAULT, or several live MASTERs. Warnings (no
Master yet while Degraded is False, a controller behind the spec) are shown but do not change it.`,
	nargs: -1,
	run:   runStatus,
}

// Kinds of problems status reports, beside the controller's Degraded reasons.
const (
	problemFault      = "Fault"
	problemController = "ControllerBehind"
)

// vipStatus is one VirtualIP as status shows it; -o json prints it as is.
type vipStatus struct {
	Name            string       `json:"name"`
	VirtualRouterID int32        `json:"virtualRouterID"`
	Addresses       []string     `json:"addresses"`
	Master          string       `json:"master"`
	Ready           string       `json:"ready"`
	PreferredNode   string       `json:"preferredNode,omitempty"`
	Problems        []problem    `json:"problems"`
	Nodes           []nodeStatus `json:"nodes"`
	// Unlisted counts the selected nodes that have no entry because they come after the first
	// vrrpv1.MaxListedNodes by name: their agents write one only while MASTER.
	Unlisted           int   `json:"unlisted,omitempty"`
	ObservedGeneration int64 `json:"observedGeneration"`
	Generation         int64 `json:"generation"`
}

type problem struct {
	Kind    string `json:"kind"`
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
	// Warning is a problem that does not make the exit code 4: the controller does not call it
	// Degraded (a VirtualIP just created, selecting no node yet) or its summary is behind.
	Warning bool `json:"warning,omitempty"`
}

type nodeStatus struct {
	Node     string `json:"node"`
	State    string `json:"state"`
	Priority int32  `json:"priority"`
	// Reason is the agent's (Cordoned, Maintenance, Preferred, InterfaceDown, ...); Why adds, when the
	// agent gives none, where the priority comes from (spec.priority or nodePriorities).
	Reason             string               `json:"reason,omitempty"`
	Why                string               `json:"why"`
	Message            string               `json:"message,omitempty"`
	Interface          string               `json:"interface,omitempty"`
	Address            string               `json:"address,omitempty"`
	LastTransitionTime *metav1.Time         `json:"lastTransitionTime,omitempty"`
	LastHook           *vrrpv1.HookResult   `json:"lastHook,omitempty"`
	Checks             []vrrpv1.CheckStatus `json:"checks,omitempty"`
	// Dark says why Kubernetes has lost touch with the node or its agent; State is then only what
	// the agent last reported, and the table shows UNKNOWN, as the controller's conditions do.
	Dark string `json:"dark,omitempty"`
}

func runStatus(ctx context.Context, a *app, c client.Client, o *options, args []string) error {
	var vips []vrrpv1.VirtualIP
	if len(args) == 1 {
		v, err := getVIP(ctx, c, args[0])
		if err != nil {
			return err
		}
		vips = []vrrpv1.VirtualIP{*v}
	} else {
		var err error
		if vips, err = listVIPs(ctx, c); err != nil {
			return err
		}
	}
	// The Nodes tell where a priority comes from and which participants have not reported. Without
	// permission to list them, status shows what the VirtualIPs say.
	nodes, err := listNodes(ctx, c)
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return err
		}
		fmt.Fprintf(a.stderr, "kubectl vrrp status: %v; showing status without the nodes' policy\n", err)
		nodes = nodeSet{}
	}
	out := make([]vipStatus, 0, len(vips))
	problems := false
	for i := range vips {
		s := summarize(&vips[i], nodes)
		for _, p := range s.Problems {
			problems = problems || !p.Warning
		}
		out = append(out, s)
	}
	switch {
	case o.output != "" && len(args) == 1:
		err = a.print(o.output, out[0])
	case o.output != "":
		err = a.print(o.output, map[string]any{"items": out})
	case len(out) == 0:
		fmt.Fprintln(a.stdout, "No VirtualIPs.")
	default:
		for i, s := range out {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			a.printStatus(a.stdout, s)
		}
	}
	if err != nil {
		return err
	}
	if problems {
		return errProblems
	}
	return nil
}

// summarize gathers one VirtualIP's status and problems. nodes may be nil (not readable).
func summarize(v *vrrpv1.VirtualIP, nodes nodeSet) vipStatus {
	s := vipStatus{
		Name: v.Name, VirtualRouterID: v.Spec.VirtualRouterID, Addresses: v.Spec.Addresses,
		Master: v.Status.Master, Ready: string(metav1.ConditionUnknown), PreferredNode: v.Annotations[vrrpv1.PreferredNodeAnnotation],
		ObservedGeneration: v.Status.ObservedGeneration, Generation: v.Generation,
		Problems: []problem{}, Nodes: []nodeStatus{},
	}
	explained := map[string]desired.Explanation{}
	if all, err := desired.ExplainAll(v, nodes.items); err == nil {
		for _, ex := range all {
			explained[ex.Node] = ex
		}
	}
	var masters []string
	for _, e := range v.Status.Nodes {
		n := nodeStatus{Node: e.Node, State: string(e.State), Priority: e.Priority, Reason: e.Reason, Message: e.Message,
			Interface: e.Interface, Address: e.Address, LastTransitionTime: e.LastTransitionTime, LastHook: e.LastHook,
			Checks: e.Checks}
		n.Why = e.Reason
		if ex, ok := explained[e.Node]; ok && n.Why == "" {
			n.Why = source(ex)
		}
		n.Dark = darkNote(e.Node, nodes)
		s.Nodes = append(s.Nodes, n)
		if e.State == vrrpv1.StateMaster && live(&e, nodes) {
			masters = append(masters, e.Node)
		}
		if e.State == vrrpv1.StateFault {
			s.Problems = append(s.Problems, problem{Kind: problemFault, Node: e.Node,
				Message: strings.TrimSuffix(fmt.Sprintf("node %s is FAULT: %s: %s", e.Node, orDash(e.Reason), e.Message), ": ")})
		}
	}
	// Nodes the nodeSelector names that have not reported: no agent runs there, or it cannot reach
	// the API server. Without a nodeSelector, or with an empty one, the VirtualIP runs on every node
	// that runs the agent, and a node without one is simply not part of it.
	sel, err := metav1.LabelSelectorAsSelector(v.Spec.NodeSelector)
	everyNode := v.Spec.NodeSelector == nil || err == nil && sel.Empty()
	for _, ex := range explained {
		if !ex.Participates || slices.ContainsFunc(v.Status.Nodes, func(e vrrpv1.NodeStatus) bool { return e.Node == ex.Node }) {
			continue
		}
		if ex.Unlisted {
			s.Unlisted++
			continue
		}
		if everyNode {
			continue
		}
		s.Nodes = append(s.Nodes, nodeStatus{Node: ex.Node, State: "-", Priority: int32(ex.Effective), Reason: ex.Reason,
			Why: "not reported: no agent runs there, or it cannot reach the API server"})
	}
	sortByName(s.Nodes, func(n nodeStatus) string { return n.Node })

	var ready, degraded *metav1.Condition
	for i := range v.Status.Conditions {
		switch cond := &v.Status.Conditions[i]; cond.Type {
		case vrrpv1.ConditionReady:
			ready = cond
		case vrrpv1.ConditionDegraded:
			degraded = cond
		}
	}
	if ready != nil {
		s.Ready = string(ready.Status)
	}
	switch {
	case degraded != nil && degraded.Status == metav1.ConditionTrue:
		s.Problems = append(s.Problems, problem{Kind: degraded.Reason, Message: degraded.Message})
	case ready != nil && ready.Status != metav1.ConditionTrue:
		// Degraded False: nothing has reported yet, or the controller gives a handover its time.
		s.Problems = append(s.Problems, problem{Kind: ready.Reason, Message: ready.Message, Warning: true})
	case ready == nil && len(masters) == 0:
		s.Problems = append(s.Problems, problem{Kind: vrrpv1.ReasonNoMaster, Message: "no node is MASTER (no Ready condition: is the controller running?)", Warning: true})
	}
	// Several live MASTERs are a split brain whatever the controller has summarised so far.
	if len(masters) > 1 && (degraded == nil || degraded.Status != metav1.ConditionTrue || degraded.Reason != vrrpv1.ReasonSplitBrain) {
		msg := fmt.Sprintf("%d nodes are MASTER: %s", len(masters), strings.Join(masters, ", "))
		if ready == nil {
			msg += " (no Ready condition: is the controller running?)"
		}
		s.Problems = append(s.Problems, problem{Kind: vrrpv1.ReasonSplitBrain, Message: msg})
	}
	if v.Generation > v.Status.ObservedGeneration && ready != nil {
		s.Problems = append(s.Problems, problem{Kind: problemController, Warning: true,
			Message: fmt.Sprintf("the controller has summarised generation %d of %d: the conditions may be out of date", v.Status.ObservedGeneration, v.Generation)})
	}
	return s
}

// source names where a node's priority comes from when no rule beyond the priorities applied.
func source(ex desired.Explanation) string {
	why := ""
	for _, st := range ex.Steps {
		if st.Applied {
			why = st.Rule
		}
	}
	if !ex.Participates {
		return "not selected by nodeSelector"
	}
	return why
}

func (a *app) printStatus(w io.Writer, s vipStatus) {
	now := a.clock.Now()
	head := fmt.Sprintf("VirtualIP %s  VRID %d  %s  master %s  ready %s", s.Name, s.VirtualRouterID,
		strings.Join(s.Addresses, ","), orDash(s.Master), s.Ready)
	if s.PreferredNode != "" {
		head += "  preferred " + s.PreferredNode
	}
	a.line(w, bold, "%s", head)
	masters := 0
	for _, n := range s.Nodes {
		if n.State == string(vrrpv1.StateMaster) && n.Dark == "" {
			masters++
		}
	}
	// The CHECKS column is there only for VirtualIPs with spec.track.
	withChecks := slices.ContainsFunc(s.Nodes, func(n nodeStatus) bool { return len(n.Checks) > 0 })
	rows := make([][]cell, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		state := txt(n.State)
		since := "-"
		if n.LastTransitionTime != nil {
			since = age(now, n.LastTransitionTime.Time)
		}
		if n.Dark != "" {
			row := []cell{txt(n.Node), painted(yellow, "UNKNOWN"), txt(fmt.Sprint(n.Priority)),
				painted(yellow, fmt.Sprintf("%s, last reported %s", n.Dark, n.State)), txt(orDash(n.Interface)), txt(since), a.hookCell(now, n.LastHook)}
			if withChecks {
				row = append(row, checksCell(n.Checks))
			}
			rows = append(rows, row)
			continue
		}
		switch vrrpv1.RouterState(n.State) {
		case vrrpv1.StateMaster:
			state.colour = green
			if masters > 1 {
				state.colour = red
			}
		case vrrpv1.StateFault:
			state.colour = red
		case vrrpv1.StateStopped, vrrpv1.StateInit, "-":
			state.colour = yellow
		}
		why := txt(orDash(n.Why))
		switch n.Reason {
		case desired.ReasonCordoned, desired.ReasonMaintenance, desired.ReasonExcluded, desired.ReasonPreferred:
			why.colour = yellow
		case "":
		default:
			if n.State == string(vrrpv1.StateFault) {
				why.colour = red
			}
		}
		row := []cell{txt(n.Node), state, txt(fmt.Sprint(n.Priority)), why, txt(orDash(n.Interface)), txt(since), a.hookCell(now, n.LastHook)}
		if withChecks {
			row = append(row, checksCell(n.Checks))
		}
		rows = append(rows, row)
	}
	header := []string{"NODE", "STATE", "PRIORITY", "WHY", "INTERFACE", "SINCE", "LAST HOOK"}
	if withChecks {
		header = append(header, "CHECKS")
	}
	if len(rows) > 0 {
		a.table(w, header, rows)
	} else {
		fmt.Fprintln(w, "no node has reported")
	}
	if s.Unlisted > 0 {
		fmt.Fprintf(w, "%d more selected nodes, not listed: status lists the first %d by name and any MASTER\n", s.Unlisted, vrrpv1.MaxListedNodes)
	}
	for _, p := range s.Problems {
		col := red
		if p.Warning || p.Kind == vrrpv1.ReasonHookFailed {
			col = yellow
		}
		a.line(w, col, "! %s: %s", p.Kind, p.Message)
	}
}

// checksCell lists a node's checks with their state and the weight each adds now: "haproxy
// failing -60, vpn passing", red when one fails.
func checksCell(checks []vrrpv1.CheckStatus) cell {
	if len(checks) == 0 {
		return txt("-")
	}
	parts := make([]string, 0, len(checks))
	x := txt("")
	for _, c := range checks {
		part := c.Name + " " + strings.ToLower(string(c.State))
		if c.Weight != 0 {
			part += fmt.Sprintf(" %+d", c.Weight)
		}
		if c.State == vrrpv1.CheckFailing {
			x.colour = red
		}
		parts = append(parts, part)
	}
	x.text = strings.Join(parts, ", ")
	return x
}

// hookCell is the last hook's result: "notify exit 0, 12ms, 3m4s ago", red when it failed.
func (a *app) hookCell(now time.Time, h *vrrpv1.HookResult) cell {
	if h == nil {
		return txt("-")
	}
	x := txt(fmt.Sprintf("%s exit %d", h.Kind, h.ExitCode))
	if h.TimedOut {
		x.text = h.Kind + " timed out"
	}
	if h.TimedOut || h.ExitCode != 0 {
		x.colour = red
	}
	if h.Duration != nil {
		x.text += ", " + seconds(h.Duration.Duration)
	}
	if h.StartTime != nil {
		x.text += ", " + age(now, h.StartTime.Time) + " ago"
	}
	return x
}

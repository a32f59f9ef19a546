package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

var drainCommand = command{
	name:  "drain",
	usage: "NODE [--timeout 1m] [-o json|yaml]",
	short: "Release every VirtualIP a node takes part in (maintenance annotation) and wait until other nodes hold them.",
	long: `Sets ` + vrrpv1.MaintenanceAnnotation + `=true on the Node: its agent advertises priority 0, drops the VIPs and runs
the stop hooks. Waits until every VirtualIP that selects the node shows it released and another node as
Master (a VirtualIP no other node can hold is reported, not waited for). 'kubectl vrrp undrain NODE'
reverses it. Unlike kubectl drain it evicts no pod.`,
	nargs: 1,
	flags: func(fs *pflag.FlagSet, o *options) {
		fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "how long to wait for status to show the change")
	},
	check: checkTimeout,
	run: func(ctx context.Context, a *app, c client.Client, o *options, args []string) error {
		return runDrain(ctx, a, c, o, args[0], true)
	},
}

var undrainCommand = command{
	name:  "undrain",
	usage: "NODE [--timeout 1m] [-o json|yaml]",
	short: "Let a drained node take part again and wait until status has settled.",
	long: `Removes ` + vrrpv1.MaintenanceAnnotation + ` from the Node and waits until, for every VirtualIP that selects it, its agent
runs the router again and the priorities' Master holds the VIP (the node itself, when it outranks the
others and preempt is on).`,
	nargs: 1,
	flags: func(fs *pflag.FlagSet, o *options) {
		fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "how long to wait for status to show the change")
	},
	check: checkTimeout,
	run: func(ctx context.Context, a *app, c client.Client, o *options, args []string) error {
		return runDrain(ctx, a, c, o, args[0], false)
	},
}

// drainResult is what drain and undrain report; -o json prints it.
type drainResult struct {
	Node       string       `json:"node"`
	Drained    bool         `json:"drained"`
	Converged  bool         `json:"converged"`
	VirtualIPs []drainedVIP `json:"virtualIPs"`
}

type drainedVIP struct {
	Name   string `json:"name"`
	Before string `json:"masterBefore"`
	After  string `json:"masterAfter"`
	Done   bool   `json:"done"`
	// Note says why the VirtualIP was not waited for, or what is still pending.
	Note        string  `json:"note,omitempty"`
	Took        string  `json:"took,omitempty"`
	TookSeconds float64 `json:"tookSeconds,omitempty"`
}

// checkTimeout is the flag check of the commands that take only --timeout.
func checkTimeout(o *options) error {
	if o.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return nil
}

func runDrain(ctx context.Context, a *app, c client.Client, o *options, node string, drain bool) error {
	n, err := getNode(ctx, c, node)
	if err != nil {
		return err
	}
	wasDrained := strings.EqualFold(n.Annotations[vrrpv1.MaintenanceAnnotation], "true")
	vips, err := listVIPs(ctx, c)
	if err != nil {
		return err
	}
	var value *string
	if drain {
		t := "true"
		value = &t
	}
	// Listed before the change, so that nothing after it can fail but the wait.
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}
	start := a.clock.Now()
	if err := annotate(ctx, c, n, vrrpv1.MaintenanceAnnotation, value); err != nil {
		return fmt.Errorf("annotating node %s: %w", node, explainAPIError(err))
	}
	// The policy is explained from the Nodes after the change.
	for i := range nodes.items {
		if nodes.items[i].Name == node {
			nodes.items[i] = *n
		}
	}

	res := drainResult{Node: node, Drained: drain, VirtualIPs: []drainedVIP{}}
	for i := range vips {
		ex, err := desired.Explain(&vips[i], node, nodes.items)
		if err == nil && !ex.Participates {
			continue
		}
		d := drainedVIP{Name: vips[i].Name, Before: vips[i].Status.Master}
		switch {
		case err != nil:
			// The agents cannot evaluate it either: they run no router for it.
			d.Done, d.Note = true, fmt.Sprintf("not waited for: %v", err)
		case !drain && !wasDrained:
			// Nothing changed for it: whatever its status shows is not this command's doing.
			d.Done, d.Note = true, node+" was not drained: nothing to wait for"
		case entryOf(&vips[i], node) == nil && !ex.Unlisted:
			d.Done, d.Note = true, "no agent has reported for "+node+": nothing to wait for"
		case drain && !otherCandidate(&vips[i], node, nodes):
			d.Note = "no other node can hold it: nobody holds the VIP while " + node + " is drained"
		}
		res.VirtualIPs = append(res.VirtualIPs, d)
	}

	check := func(ctx context.Context, d *drainedVIP) (bool, error) {
		cur, err := getVIP(ctx, c, d.Name)
		if errors.As(err, &vipNotFound{}) {
			d.Note = "deleted meanwhile"
			return true, nil
		}
		if err != nil {
			return false, err
		}
		d.After = cur.Status.Master
		e := entryOf(cur, node)
		if e == nil {
			// A node after the first vrrpv1.MaxListedNodes removes its entry when it steps down:
			// what it stands for is still to be checked against status.master.
			ex, err := desired.Explain(cur, node, nodes.items)
			if err != nil || !ex.Unlisted {
				d.Note = node + " has no entry"
				return true, nil
			}
			e = unlistedEntry(ex)
		}
		if drain {
			return drained(cur, e, node, nodes, d), nil
		}
		return undrained(cur, e, node, nodes, d), nil
	}
	_, err = a.waitFor(ctx, start, o.timeout, func(ctx context.Context) (bool, error) {
		all := true
		for i := range res.VirtualIPs {
			d := &res.VirtualIPs[i]
			if d.Done {
				continue
			}
			ok, err := check(ctx, d)
			if err != nil {
				return false, err
			}
			if ok {
				took := a.clock.Now().Sub(start)
				d.Done, d.Took, d.TookSeconds = true, seconds(took), took.Round(time.Millisecond).Seconds()
			}
			all = all && ok
		}
		return all, nil
	})
	res.Converged = err == nil
	if err != nil && !errors.Is(err, errNotYet) {
		if drain {
			return fmt.Errorf("node %s is drained (its %s annotation is set), but %w; kubectl vrrp undrain %s undoes it",
				node, vrrpv1.MaintenanceAnnotation, err, node)
		}
		return fmt.Errorf("node %s is undrained (its %s annotation is removed), but %w", node, vrrpv1.MaintenanceAnnotation, err)
	}
	if o.output != "" {
		if perr := a.print(o.output, res); perr != nil {
			return perr
		}
	} else {
		a.printDrain(res)
	}
	if errors.Is(err, errNotYet) {
		var pending []string
		for _, d := range res.VirtualIPs {
			if !d.Done {
				pending = append(pending, d.Name+": "+cmp.Or(d.Note, "status has not been read"))
			}
		}
		return timeoutError{fmt.Sprintf("node %s: not converged within %s: %s%s", node, o.timeout, strings.Join(pending, "; "), lastFailure(err))}
	}
	return nil
}

// drained says node's entry e shows it released from cur and, when another node can, that one
// holds the VIP. It notes on d what is pending. A node gone dark never updates its entry, which
// counts as nobody's: it is done once another node holds the VIP, or none can.
func drained(cur *vrrpv1.VirtualIP, e *vrrpv1.NodeStatus, node string, nodes nodeSet, d *drainedVIP) bool {
	if why := darkNote(node, nodes); why != "" {
		switch {
		case cur.Status.Master != "" && cur.Status.Master != node:
			d.Note = fmt.Sprintf("%s: %s; %s holds the VIP", node, why, cur.Status.Master)
			return true
		case otherCandidate(cur, node, nodes):
			d.Note = fmt.Sprintf("%s: %s; no other node holds the VIP yet", node, why)
			return false
		}
		d.Note = fmt.Sprintf("%s: %s; no other node can hold the VIP", node, why)
		return true
	}
	switch {
	case e.State != vrrpv1.StateMaster && e.Reason != desired.ReasonMaintenance && (e.State == vrrpv1.StateFault || e.State == vrrpv1.StateStopped):
		// FAULT (no interface, no Secret, a VRID conflict) stays FAULT in maintenance: a node
		// that is neither Master nor running holds nothing to release.
		d.Note = fmt.Sprintf("%s is %s (%s): it holds nothing", node, e.State, orDash(e.Reason))
		return true
	case e.Reason != desired.ReasonMaintenance || e.State == vrrpv1.StateMaster:
		d.Note = fmt.Sprintf("%s is still %s (%s)", node, e.State, orDash(e.Reason))
		return false
	case cur.Status.Master == node:
		d.Note = "status.master is still " + node
		return false
	case cur.Status.Master == "" && otherCandidate(cur, node, nodes):
		d.Note = "no other node holds it yet"
		return false
	case cur.Status.Master == "":
		d.Note = "no other node can hold it"
	default:
		d.Note = ""
	}
	return true
}

// undrained says node's entry e shows it running the router again and cur settled. A node the
// policy still releases (the exclude label, a cordon under onCordon Release) stays STOPPED by
// design: it is done once its entry shows that reason.
func undrained(cur *vrrpv1.VirtualIP, e *vrrpv1.NodeStatus, node string, nodes nodeSet, d *drainedVIP) bool {
	if e.Reason == desired.ReasonMaintenance {
		d.Note = fmt.Sprintf("%s is still %s (%s)", node, e.State, e.Reason)
		return false
	}
	if ex, err := desired.Explain(cur, node, nodes.items); err == nil && ex.Released {
		if running(e) || e.Reason != ex.Reason {
			d.Note = fmt.Sprintf("%s is %s (%s); the policy releases it (%s)", node, e.State, orDash(e.Reason), ex.Reason)
			return false
		}
		d.Note = fmt.Sprintf("%s stays released: %s (%s)", node, ex.Reason, undo(ex.Reason, node))
		return true
	}
	if !live(e, nodes) {
		d.Note = fmt.Sprintf("%s is still %s (%s)", node, e.State, orDash(e.Reason))
		if why := darkNote(node, nodes); why != "" {
			d.Note = node + ": " + why
		}
		return false
	}
	ok, detail := settled(cur, nodes, node)
	d.Note = detail
	return ok
}

// otherCandidate says another participant of v could hold the VIP while node is out of it.
func otherCandidate(v *vrrpv1.VirtualIP, node string, nodes nodeSet) bool {
	for _, n := range nodes.items {
		if n.Name == node {
			continue
		}
		ex, err := desired.Explain(v, n.Name, nodes.items)
		if err == nil && ex.Participates && !ex.Released && liveAs(entryOf(v, n.Name), ex, nodes) {
			return true
		}
	}
	return false
}

func (a *app) printDrain(res drainResult) {
	verb := "undrained"
	if res.Drained {
		verb = "drained"
	}
	if len(res.VirtualIPs) == 0 {
		a.line(a.stdout, green, "node %s %s: it takes part in no VirtualIP", res.Node, verb)
		return
	}
	rows := make([][]cell, 0, len(res.VirtualIPs))
	for _, d := range res.VirtualIPs {
		status := painted(green, "done")
		if !d.Done {
			status = painted(red, "pending")
		}
		rows = append(rows, []cell{txt(d.Name), txt(orDash(d.Before)), txt(orDash(d.After)), status, txt(orDash(d.Took)), txt(orDash(d.Note))})
	}
	a.table(a.stdout, []string{"VIRTUALIP", "MASTER BEFORE", "MASTER NOW", "STATUS", "TOOK", "NOTE"}, rows)
	if res.Converged {
		a.line(a.stdout, green, "node %s %s", res.Node, verb)
	}
}

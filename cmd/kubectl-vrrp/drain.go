package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
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

func runDrain(ctx context.Context, a *app, c client.Client, o *options, node string, drain bool) error {
	if o.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	n, err := getNode(ctx, c, node)
	if err != nil {
		return err
	}
	vips, err := listVIPs(ctx, c)
	if err != nil {
		return err
	}
	var value *string
	if drain {
		t := "true"
		value = &t
	}
	start := a.clock.Now()
	if err := annotate(ctx, c, n, vrrpv1.MaintenanceAnnotation, value); err != nil {
		return fmt.Errorf("annotating node %s: %w", node, explainAPIError(err))
	}
	// The Nodes after the change: the policy is explained from them.
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}

	res := drainResult{Node: node, Drained: drain, VirtualIPs: []drainedVIP{}}
	var names []string
	for i := range vips {
		ex, err := desired.Explain(&vips[i], node, nodes)
		if err != nil || !ex.Participates {
			continue
		}
		d := drainedVIP{Name: vips[i].Name, Before: vips[i].Status.Master}
		if entryOf(&vips[i], node) == nil {
			d.Done, d.Note = true, "no agent has reported for "+node+": nothing to wait for"
		}
		if drain && !d.Done && !otherCandidate(&vips[i], node, nodes) {
			d.Note = "no other node can hold it: nobody holds the VIP while " + node + " is drained"
		}
		res.VirtualIPs = append(res.VirtualIPs, d)
		names = append(names, vips[i].Name)
	}

	check := func(d *drainedVIP) (bool, error) {
		cur, err := getVIP(ctx, c, d.Name)
		if err != nil {
			return false, err
		}
		d.After = cur.Status.Master
		e := entryOf(cur, node)
		switch {
		case e == nil:
			d.Note = node + " has no entry"
			return true, nil
		case drain && (e.Reason != desired.ReasonMaintenance || e.State == vrrpv1.StateMaster):
			d.Note = fmt.Sprintf("%s is still %s (%s)", node, e.State, orDash(e.Reason))
			return false, nil
		case drain && cur.Status.Master == node:
			d.Note = "status.master is still " + node
			return false, nil
		case drain && cur.Status.Master == "" && otherCandidate(cur, node, nodes):
			d.Note = "no other node holds it yet"
			return false, nil
		case !drain && (e.Reason == desired.ReasonMaintenance || !live(e)):
			d.Note = fmt.Sprintf("%s is still %s (%s)", node, e.State, orDash(e.Reason))
			return false, nil
		case !drain:
			ok, detail := settled(cur, nodes)
			d.Note = detail
			return ok, nil
		}
		if cur.Status.Master == "" {
			d.Note = "no other node can hold it"
		} else {
			d.Note = ""
		}
		return true, nil
	}
	_, err = a.waitFor(ctx, start, o.timeout, func() (bool, error) {
		all := true
		for i := range res.VirtualIPs {
			d := &res.VirtualIPs[i]
			if d.Done {
				continue
			}
			ok, err := check(d)
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
		return err
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
				pending = append(pending, d.Name+": "+d.Note)
			}
		}
		return timeoutError{fmt.Sprintf("node %s: not converged within %s: %s", node, o.timeout, strings.Join(pending, "; "))}
	}
	return nil
}

// otherCandidate says another participant of v could hold the VIP while node is out of it.
func otherCandidate(v *vrrpv1.VirtualIP, node string, nodes []corev1.Node) bool {
	for _, n := range nodes {
		if n.Name == node {
			continue
		}
		ex, err := desired.Explain(v, n.Name, nodes)
		if err == nil && ex.Participates && !ex.Released && live(entryOf(v, n.Name)) {
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

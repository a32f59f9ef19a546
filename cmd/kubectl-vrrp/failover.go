package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

const defaultTimeout = time.Minute

var failoverCommand = command{
	name:  "failover",
	usage: "NAME (--to NODE | --clear) [--timeout 1m] [-o json|yaml]",
	short: "Move a VirtualIP to a node (the preferred-node annotation) and wait until status shows it there.",
	long: `--to NODE makes NODE's priority 254 for this VirtualIP (annotation ` + vrrpv1.PreferredNodeAnnotation + `), so that it
preempts the Master, and waits until status.master is NODE. --clear removes the annotation and waits until
the priorities' Master holds the VIP. Either prints how long it took; past --timeout it exits with 3 and
leaves the annotation as it set it.`,
	nargs: 1,
	flags: func(fs *pflag.FlagSet, o *options) {
		fs.StringVar(&o.to, "to", "", "the node that should hold the VirtualIP")
		fs.BoolVar(&o.clear, "clear", false, "remove the preference: the priorities decide again")
		fs.DurationVar(&o.timeout, "timeout", defaultTimeout, "how long to wait for status to show the change")
	},
	check: func(o *options) error {
		switch {
		case o.to == "" && !o.clear:
			return usagef("failover needs --to NODE or --clear")
		case o.to != "" && o.clear:
			return usagef("failover takes --to NODE or --clear, not both")
		case o.timeout <= 0:
			return usagef("--timeout must be positive")
		}
		return nil
	},
	run: runFailover,
}

// failoverResult is what failover reports; -o json prints it.
type failoverResult struct {
	VirtualIP      string  `json:"virtualIP"`
	PreferredNode  string  `json:"preferredNode"`
	PreviousMaster string  `json:"previousMaster"`
	Master         string  `json:"master"`
	Converged      bool    `json:"converged"`
	Took           string  `json:"took"`
	TookSeconds    float64 `json:"tookSeconds"`
}

func runFailover(ctx context.Context, a *app, c client.Client, o *options, args []string) error {
	name := args[0]
	v, err := getVIP(ctx, c, name)
	if err != nil {
		return err
	}
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}
	res := failoverResult{VirtualIP: name, PreviousMaster: v.Status.Master}
	var cond func(context.Context) (bool, error)
	var pending func() string
	if o.clear {
		was := v.Annotations[vrrpv1.PreferredNodeAnnotation]
		cond, pending = settleAfterClear(c, name, was, nodes, &res)
	} else {
		if err := canPrefer(v, o.to, nodes, o.timeout); err != nil {
			return err
		}
		res.PreferredNode = o.to
		why := "status has not been read"
		cond = func(ctx context.Context) (bool, error) {
			cur, err := getVIP(ctx, c, name)
			if err != nil {
				return false, err
			}
			res.Master = cur.Status.Master
			e := entryOf(cur, o.to)
			if e == nil {
				why = fmt.Sprintf("status.master is %q; %s has no entry", cur.Status.Master, o.to)
				return false, nil
			}
			why = fmt.Sprintf("status.master is %q; %s is %s at priority %d", cur.Status.Master, o.to, e.State, e.Priority)
			// The entry must show the preference applied, else it may be an old one: a node that
			// was Master before, at its own priority, and has not yet seen the annotation. Its
			// priority is 254 less what failing checks take (spec.track).
			return cur.Status.Master == o.to && e.State == vrrpv1.StateMaster &&
				e.Reason == desired.ReasonPreferred, nil
		}
		pending = func() string { return why }
	}

	start := a.clock.Now()
	var value *string
	if !o.clear {
		value = &o.to
	}
	before := v.Annotations[vrrpv1.PreferredNodeAnnotation]
	if err := prefer(ctx, c, v, value); err != nil {
		return fmt.Errorf("setting %s on VirtualIP %s: %w", vrrpv1.PreferredNodeAnnotation, name, explainAPIError(err))
	}
	took, err := a.waitFor(ctx, start, o.timeout, cond)
	res.Took, res.TookSeconds = seconds(took), took.Round(time.Millisecond).Seconds()
	res.Converged = err == nil
	if err != nil && !errors.Is(err, errNotYet) {
		undo := fmt.Sprintf("kubectl vrrp failover %s --clear undoes it", name)
		if before != "" {
			undo = fmt.Sprintf("kubectl vrrp failover %s --to %s puts back the preference before", name, before)
		}
		switch {
		case o.clear && before == "":
			return err // nothing was changed
		case o.clear:
			return fmt.Errorf("VirtualIP %s prefers no node now (its %s annotation is removed), but %w; %s", name, vrrpv1.PreferredNodeAnnotation, err, undo)
		case before == o.to:
			return fmt.Errorf("VirtualIP %s prefers %s, as before, but %w", name, o.to, err)
		}
		return fmt.Errorf("VirtualIP %s prefers %s now (its %s annotation is set), but %w; %s", name, o.to, vrrpv1.PreferredNodeAnnotation, err, undo)
	}
	if o.output != "" {
		if perr := a.print(o.output, res); perr != nil {
			return perr
		}
	}
	if errors.Is(err, errNotYet) {
		return timeoutError{fmt.Sprintf("VirtualIP %s: not converged within %s: %s%s", name, o.timeout, pending(), lastFailure(err))}
	}
	if o.output == "" {
		switch {
		case o.clear && res.PreferredNode == "":
			a.line(a.stdout, green, "VirtualIP %s: no preferred node; %s is Master (%s)", name, res.Master, res.Took)
		case o.clear:
			a.line(a.stdout, green, "VirtualIP %s: preference for %s cleared; %s is Master after %s (was %s)", name, res.PreferredNode, res.Master, res.Took, orDash(res.PreviousMaster))
		default:
			a.line(a.stdout, green, "VirtualIP %s: %s is Master after %s (was %s)", name, o.to, res.Took, orDash(res.PreviousMaster))
		}
	}
	return nil
}

// preferTries bounds how often prefer reads again after a conflict.
const preferTries = 10

// prefer sets (value non-nil) or removes (nil) v's preferred-node annotation, only while it is as
// v shows it: the preference of a concurrent kubectl vrrp failover, which this one's checks never
// saw, is not overwritten. A preference that was set is tested in the JSON patch itself, which the
// agents' status writes do not disturb. Of one that was not, JSON patch cannot test the absence: the
// merge patch then carries v's resourceVersion, and on a conflict (most often an agent's status
// write) v is read again, and the patch tried again while no preference is set.
func prefer(ctx context.Context, c client.Client, v *vrrpv1.VirtualIP, value *string) error {
	key := vrrpv1.PreferredNodeAnnotation
	before, had := v.Annotations[key]
	if !had && value == nil {
		return nil // --clear of no preference: nothing to write
	}
	// done says the preference is what this patch makes it: one whose answer was lost landed.
	done := func(cur *vrrpv1.VirtualIP) bool {
		now, has := cur.Annotations[key]
		return value == nil && !has || value != nil && has && now == *value
	}
	changed := func(now string) error {
		return fmt.Errorf("its preferred node changed meanwhile, from %q to %q (another kubectl vrrp failover?): not overwritten; run the command again to override it", before, now)
	}
	if had {
		path := "/metadata/annotations/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
		ops := []map[string]any{{"op": "test", "path": path, "value": before}, {"op": "remove", "path": path}}
		if value != nil {
			ops[1] = map[string]any{"op": "replace", "path": path, "value": *value}
		}
		patch, err := json.Marshal(ops)
		if err != nil {
			return err
		}
		err = c.Patch(ctx, v, client.RawPatch(types.JSONPatchType, patch))
		if err != nil {
			// A failed test is a 422: read what the preference is now, to say so.
			if cur, gerr := getVIP(ctx, c, v.Name); gerr == nil {
				switch {
				case done(cur):
					return nil
				case cur.Annotations[key] != before:
					return changed(cur.Annotations[key])
				}
			}
		}
		return err
	}
	for try := 1; ; try++ {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": v.ResourceVersion, "annotations": map[string]any{key: value}}})
		if err != nil {
			return err
		}
		err = c.Patch(ctx, v, client.RawPatch(types.MergePatchType, patch))
		if !apierrors.IsConflict(err) || try == preferTries {
			return err
		}
		cur, err := getVIP(ctx, c, v.Name)
		if err != nil {
			return err
		}
		if done(cur) {
			return nil
		}
		if now, has := cur.Annotations[key]; has {
			return changed(now)
		}
		*v = *cur
	}
}

// canPrefer refuses a failover that the agents' policy would never carry out, or not within
// timeout, saying why.
func canPrefer(v *vrrpv1.VirtualIP, node string, nodes nodeSet, timeout time.Duration) error {
	if !containsNode(nodes, node) {
		return fmt.Errorf("node %q not found (kubectl get nodes lists them)", node)
	}
	ex, err := desired.Explain(v, node, nodes.items)
	if err != nil {
		return fmt.Errorf("VirtualIP %s on node %s: %w", v.Name, node, err)
	}
	switch {
	case !ex.Participates:
		return fmt.Errorf("node %s does not take part in VirtualIP %s: its nodeSelector is %s", node, v.Name, ex.Selector)
	case ex.Released:
		return fmt.Errorf("node %s releases its VIPs (%s), whatever the preference: %s", node, ex.Reason, undo(ex.Reason, node))
	case ex.Resign:
		return fmt.Errorf("node %s is cordoned and VirtualIP %s demotes cordoned nodes to priority %d, whatever the preference: kubectl uncordon %s first",
			node, v.Name, desired.DemotedPriority, node)
	case !ex.Preempt:
		return fmt.Errorf("VirtualIP %s has spec.preempt false: a preferred node does not take the VIP from a live Master (RFC 9568 §6.4.3); move the Master away instead (kubectl vrrp drain)", v.Name)
	}
	e, gone := entryOf(v, node), darkError(node, nodes)
	switch {
	case e == nil && ex.Unlisted && gone != nil:
		return gone
	case e == nil && ex.Unlisted:
		// Its agent writes an entry only once MASTER (vrrpv1.MaxListedNodes): the wait shows
		// whether it runs the router.
	case e == nil:
		return fmt.Errorf("node %s has no entry in VirtualIP %s's status: no agent runs the VirtualIP there", node, v.Name)
	case e.State == vrrpv1.StateFault:
		return fmt.Errorf("node %s is FAULT for VirtualIP %s (%s: %s): it cannot hold the VIP", node, v.Name, e.Reason, e.Message)
	case gone != nil:
		return gone
	case !live(e, nodes):
		return fmt.Errorf("node %s is %s for VirtualIP %s (%s): its agent does not run the router there", node, e.State, v.Name, orDash(e.Reason))
	}
	// With the preference set, the node stands at 254 and what its checks add now (spec.track),
	// as the agent adds them (desired.Track), and no other live node may stand as high: a Backup
	// preempts only a Master of strictly lower priority (RFC 9568 §6.4.2), so the preferred node
	// would tie or stay below and wait.
	target, checks := preferredPriority(e)
	preferred := v.DeepCopy()
	if preferred.Annotations == nil {
		preferred.Annotations = map[string]string{}
	}
	preferred.Annotations[vrrpv1.PreferredNodeAnnotation] = node
	all, err := desired.ExplainAll(preferred, nodes.items)
	if err != nil {
		return fmt.Errorf("explaining VirtualIP %s: %w", v.Name, err)
	}
	for _, other := range all {
		e := entryOf(v, other.Node)
		if other.Node == node || !other.Participates || other.Released || !liveAs(e, other, nodes) {
			continue
		}
		// Checks (spec.track) may add to a node's priority: its entry says where it stands, or
		// will once its agent applies the spec.
		if p := max(other.Effective, reported(other, e, nodes)); p >= target {
			from := source(other)
			if p != other.Effective {
				from = fmt.Sprintf("%s %d and its checks, as its status entry reports", from, other.Effective)
			}
			if target < desired.PreferredPriority {
				return fmt.Errorf("node %s would stand at priority %d for VirtualIP %s (%d with the preference, %s), not above %s's %d (%s): a Backup preempts only a Master of strictly lower priority (RFC 9568 §6.4.2); fix %s's checks first",
					node, target, v.Name, desired.PreferredPriority, checks, other.Node, p, from, node)
			}
			return fmt.Errorf("node %s has priority %d for VirtualIP %s too (%s): a Backup preempts only a Master of strictly lower priority (RFC 9568 §6.4.2), so %s would never take the VIP from it; lower %s's priority first",
				other.Node, p, v.Name, from, node, other.Node)
		}
	}
	// A preempt delay holds the takeover back (agent/vrrp preemptHeldBack), then the old Master
	// needs up to Master_Down_Interval to see it.
	if delay := durationOf(v.Spec.PreemptDelay); delay > 0 {
		version := uint8(desired.DefaultVersion)
		if v.Spec.Version != 0 {
			version = uint8(v.Spec.Version)
		}
		advert := cmp.Or(durationOf(v.Spec.AdvertInterval), desired.DefaultAdvertInterval)
		if need := delay + vrrp.MasterDownInterval(version, desired.PreferredPriority, advert); need > timeout {
			return fmt.Errorf("VirtualIP %s has preemptDelay %s: %s takes the VIP after up to %s (the delay and Master_Down_Interval), longer than --timeout %s; pass --timeout %s or more",
				v.Name, delay, node, seconds(need), timeout, seconds(need.Round(time.Second)+time.Second))
		}
	}
	return nil
}

// preferredPriority is the priority a node whose entry is e (nil: none) stands at once preferred:
// desired.PreferredPriority and the weights its checks add now, between 1 and 254 as the agent
// keeps it; and those checks, for a message.
func preferredPriority(e *vrrpv1.NodeStatus) (uint8, string) {
	var parts []string
	if e != nil {
		for _, c := range e.Checks {
			if c.Weight != 0 {
				parts = append(parts, fmt.Sprintf("%s %s %+d", c.Name, strings.ToLower(string(c.State)), c.Weight))
			}
		}
	}
	return withChecks(desired.PreferredPriority, checksWeight(e)), strings.Join(parts, ", ")
}

func durationOf(d *metav1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.Duration
}

// undo says how to lift a release.
func undo(reason, node string) string {
	switch reason {
	case desired.ReasonMaintenance:
		return "kubectl vrrp undrain " + node + " first"
	case desired.ReasonExcluded:
		return "remove the label " + vrrpv1.ExcludeLabel + " first"
	case desired.ReasonCordoned:
		return "kubectl uncordon " + node + " first"
	}
	return "lift it first"
}

func containsNode(nodes nodeSet, name string) bool {
	for _, n := range nodes.items {
		if n.Name == name {
			return true
		}
	}
	return false
}

// settleAfterClear waits until the formerly preferred node runs at its own priority again and the
// priorities' Master holds the VIP.
func settleAfterClear(c client.Client, name, was string, nodes nodeSet, res *failoverResult) (func(context.Context) (bool, error), func() string) {
	res.PreferredNode = was
	why := "status has not been read"
	cond := func(ctx context.Context) (bool, error) {
		cur, err := getVIP(ctx, c, name)
		if err != nil {
			return false, err
		}
		res.Master = cur.Status.Master
		if e := entryOf(cur, was); was != "" && live(e, nodes) && e.Reason == desired.ReasonPreferred {
			why = fmt.Sprintf("%s still runs as the preferred node (priority %d)", was, e.Priority)
			return false, nil
		}
		ok, detail := settled(cur, nodes, "")
		why = detail
		return ok, nil
	}
	return cond, func() string { return why }
}

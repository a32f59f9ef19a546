package desired

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Rules of the node policy, in the order applyNodePolicy applies them: each later rule overrides
// the earlier ones, and of maintenance, exclude and cordon only the first that holds counts.
const (
	RuleSpecPriority   = "spec.priority"
	RuleNodePriorities = "nodePriorities"
	RulePreferredNode  = "preferredNode"
	RuleMaintenance    = "maintenance"
	RuleExclude        = "exclude"
	RuleCordon         = "cordon"
	RuleTracking       = "tracking"
)

// ErrNodeNotFound: Explain was asked about a node that is not among the Nodes it was given.
var ErrNodeNotFound = errors.New("node not found")

// Step is one rule of the node policy and what it did on one node.
type Step struct {
	Rule string `json:"rule"`
	// Applied says the rule decided something: it set the priority, or released or demoted the node.
	Applied bool `json:"applied"`
	// Detail says what the rule looked at and why it did or did not apply.
	Detail string `json:"detail"`
	// Priority is the node's configured priority after the step; Released says the node advertises
	// priority 0 instead.
	Priority uint8 `json:"priority"`
	Released bool  `json:"released,omitempty"`
}

// Explanation is how the agent on one node arrives at its priority for one VirtualIP.
type Explanation struct {
	VirtualIP string `json:"virtualIP"`
	Node      string `json:"node"`
	// Participates says spec.nodeSelector selects the node; when false there are no Steps and the
	// node runs no router for the VirtualIP.
	Participates bool `json:"participates"`
	// Unlisted says the node comes after the first vrrpv1.MaxListedNodes selected nodes by name:
	// its agent writes a status entry only while it is MASTER.
	Unlisted bool   `json:"unlisted,omitempty"`
	Selector string `json:"selector"`
	Steps    []Step `json:"steps,omitempty"`
	// The outcome, as applyNodePolicy and startsAsMaster decide it for Derive.
	Priority  uint8  `json:"priority"`          // Router.Config.Priority
	Effective uint8  `json:"effectivePriority"` // Router.EffectivePriority: 0 when Released
	Released  bool   `json:"released,omitempty"`
	Resign    bool   `json:"resign,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Preempt   bool   `json:"preempt"`
	// StartsAsMaster says the node's agent takes the VIP at startup without waiting for
	// Master_Down_Interval: it outranks every other node and has no preempt delay.
	StartsAsMaster bool `json:"startsAsMaster,omitempty"`
}

// Explain returns, for the VirtualIP vip on node (one of nodes), the steps that lead to the node's
// priority, in the order the agent applies them, and the outcome Derive computes. The steps only
// narrate: the outcome comes from the functions Derive calls, and an Explain whose narration
// disagrees with them returns an error rather than a wrong story.
func Explain(vip *vrrpv1.VirtualIP, node string, nodes []corev1.Node) (Explanation, error) {
	return explain(vip, node, nodes, true)
}

// explain is Explain; without start it leaves StartsAsMaster false, which costs a pass over nodes.
func explain(vip *vrrpv1.VirtualIP, node string, nodes []corev1.Node, start bool) (Explanation, error) {
	i := slices.IndexFunc(nodes, func(n corev1.Node) bool { return n.Name == node })
	if i < 0 {
		return Explanation{}, fmt.Errorf("node %q: %w", node, ErrNodeNotFound)
	}
	self := newNodeFacts(node, &nodes[i], nil)
	ex := Explanation{VirtualIP: vip.Name, Node: node}
	selector, err := nodeSelector(&vip.Spec)
	if err != nil {
		return Explanation{}, err
	}
	ex.Selector = "every node"
	if !selector.Empty() {
		ex.Selector = selector.String()
	}
	if !selector.Matches(self.labels) {
		return ex, nil
	}
	ex.Participates = true
	n, _ := rank(nodes, node, selector)
	ex.Unlisted = Unlisted(&vip.Spec, n)
	cfg, err := baseConfig(vip)
	if err != nil {
		return Explanation{}, err
	}
	ex.Preempt = cfg.Preempt
	ex.Steps, err = narrate(vip, self)
	if err != nil {
		return Explanation{}, err
	}

	// The outcome, from the agent's own code.
	r := Router{Name: vip.Name, Config: cfg}
	if err := applyNodePolicy(&r, vip, self); err != nil {
		return Explanation{}, err
	}
	if start {
		r.Config.StartAsMaster = startsAsMaster(Inputs{NodeName: node, Nodes: nodes}, self, vip, selector, cfg.Priority, r)
	}
	ex.Priority, ex.Effective = r.Config.Priority, r.EffectivePriority()
	ex.Released, ex.Resign, ex.Reason = r.Released, r.Resign, r.Reason
	// The agent ignores StartAsMaster under a PreemptDelay (agent/vrrp Instance.initialize): taking
	// the VIP at startup would preempt a live Master at once, which the delay is there to hold back.
	ex.StartsAsMaster = r.Config.StartAsMaster && r.Config.PreemptDelay == 0
	if last := ex.Steps[len(ex.Steps)-1]; last.Priority != ex.Priority || last.Released != ex.Released {
		return Explanation{}, fmt.Errorf("explaining %s on node %s: the steps end at priority %d (released %v), the agent's policy at %d (released %v)",
			vip.Name, node, last.Priority, last.Released, ex.Priority, ex.Released)
	}
	return ex, nil
}

// narrate walks the rules of applyNodePolicy one by one with the predicates it uses.
func narrate(vip *vrrpv1.VirtualIP, self nodeFacts) ([]Step, error) {
	spec := &vip.Spec
	var steps []Step
	prio, err := checkPriority("priority", spec.Priority)
	if err != nil {
		return nil, err
	}
	if spec.Priority == 0 {
		steps = append(steps, Step{Rule: RuleSpecPriority, Applied: true, Priority: prio,
			Detail: fmt.Sprintf("spec.priority is unset: the default, %d", prio)})
	} else {
		steps = append(steps, Step{Rule: RuleSpecPriority, Applied: true, Priority: prio,
			Detail: fmt.Sprintf("spec.priority is %d", prio)})
	}

	np := Step{Rule: RuleNodePriorities, Priority: prio, Detail: "no nodePriorities entry matches this node"}
	if len(spec.NodePriorities) == 0 {
		np.Detail = "spec.nodePriorities is empty"
	}
	for i, e := range spec.NodePriorities {
		match, err := nodePriorityMatches(e, self)
		if err != nil {
			return nil, fmt.Errorf("nodePriorities[%d]: %w", i, err)
		}
		if !match {
			continue
		}
		p, err := checkPriority(fmt.Sprintf("nodePriorities[%d].priority", i), e.Priority)
		if err != nil {
			return nil, err
		}
		prio = p
		np = Step{Rule: RuleNodePriorities, Applied: true, Priority: prio,
			Detail: fmt.Sprintf("nodePriorities[%d] (%s) sets %d; the first matching entry wins", i, describeEntry(e), p)}
		break
	}
	steps = append(steps, np)

	pref := Step{Rule: RulePreferredNode, Priority: prio}
	switch named, ok := vip.Annotations[vrrpv1.PreferredNodeAnnotation]; {
	case !ok:
		pref.Detail = "annotation " + vrrpv1.PreferredNodeAnnotation + " is not set"
	case named == self.name && self.name != "":
		prio = PreferredPriority
		pref.Applied, pref.Priority = true, prio
		pref.Detail = fmt.Sprintf("annotation %s names this node: %d", vrrpv1.PreferredNodeAnnotation, PreferredPriority)
	default:
		pref.Detail = fmt.Sprintf("annotation %s names %q, not this node", vrrpv1.PreferredNodeAnnotation, named)
	}
	steps = append(steps, pref)

	onCordon := DefaultOnCordon
	if spec.Failover != nil && spec.Failover.OnCordon != "" {
		onCordon = spec.Failover.OnCordon
	}
	// Of maintenance, exclude and cordon, the first that holds decides (applyNodePolicy's switch).
	decided := ""
	maint := Step{Rule: RuleMaintenance, Priority: prio,
		Detail: "Node annotation " + vrrpv1.MaintenanceAnnotation + " is not \"true\""}
	if self.maintenance {
		decided = RuleMaintenance
		maint.Applied, maint.Released = true, true
		maint.Detail = "Node annotation " + vrrpv1.MaintenanceAnnotation + "=true: the node releases the VIP (advertises priority 0)"
	}
	steps = append(steps, maint)

	excl := Step{Rule: RuleExclude, Priority: prio, Released: decided != "",
		Detail: "Node label " + vrrpv1.ExcludeLabel + " is absent"}
	switch {
	case self.excluded && decided != "":
		excl.Detail = "Node label " + vrrpv1.ExcludeLabel + " is present, but " + decided + " already decided"
	case self.excluded:
		decided = RuleExclude
		excl.Applied, excl.Released = true, true
		excl.Detail = "Node label " + vrrpv1.ExcludeLabel + " is present: the node releases the VIP (advertises priority 0)"
	}
	steps = append(steps, excl)

	cord := Step{Rule: RuleCordon, Priority: prio, Released: decided != "",
		Detail: fmt.Sprintf("the Node is not cordoned (onCordon %s)", onCordon)}
	switch {
	case self.cordoned && decided != "":
		cord.Detail = fmt.Sprintf("the Node is cordoned (onCordon %s), but %s already decided", onCordon, decided)
	case self.cordoned && onCordon == vrrpv1.CordonRelease:
		cord.Applied, cord.Released = true, true
		cord.Detail = "the Node is cordoned, onCordon Release: the node releases the VIP (advertises priority 0)"
	case self.cordoned && onCordon == vrrpv1.CordonDemote:
		prio = DemotedPriority
		cord.Applied, cord.Priority = true, prio
		cord.Detail = fmt.Sprintf("the Node is cordoned, onCordon Demote: %d, and a Master hands over at once", DemotedPriority)
	case self.cordoned:
		cord.Detail = fmt.Sprintf("the Node is cordoned, onCordon %s: the priority stays", onCordon)
	}
	steps = append(steps, cord)

	last := steps[len(steps)-1]
	steps = append(steps, Step{Rule: RuleTracking, Priority: last.Priority, Released: last.Released,
		Detail: trackingDetail(vip)})
	return steps, nil
}

// describeEntry names what a nodePriorities entry matches by.
func describeEntry(e vrrpv1.NodePriority) string {
	if e.Node != "" {
		return "node " + e.Node
	}
	sel, err := metav1.LabelSelectorAsSelector(e.Selector)
	if err != nil {
		return "selector"
	}
	return "selector " + sel.String()
}

// ExplainAll explains vip on every node of nodes: those it selects first, by effective priority,
// highest first, then by name; the others after them, by name. The protocol breaks a tie between
// equal priorities by the higher primary address (RFC 9568 §6.4.3), which only the nodes know: the
// caller does that. It gives what Explain gives for each node, in one pass over nodes rather than
// one per node: only the top node can start as Master, so only it is asked.
func ExplainAll(vip *vrrpv1.VirtualIP, nodes []corev1.Node) ([]Explanation, error) {
	out := make([]Explanation, 0, len(nodes))
	for _, n := range nodes {
		ex, err := explain(vip, n.Name, nodes, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ex)
	}
	slices.SortFunc(out, func(a, b Explanation) int {
		if a.Participates != b.Participates {
			if a.Participates {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.Effective, a.Effective), strings.Compare(a.Node, b.Node))
	})
	if len(out) > 0 && out[0].Participates {
		top, err := Explain(vip, out[0].Node, nodes)
		if err != nil {
			return nil, err
		}
		out[0].StartsAsMaster = top.StartsAsMaster
	}
	return out, nil
}

// trackingDetail says what spec.track may do to the priority: the checks' results are the node's,
// in its status entry (status.nodes[].checks), not the spec's.
func trackingDetail(vip *vrrpv1.VirtualIP) string {
	if len(vip.Spec.Track) == 0 {
		return "none: no spec.track, nothing else changes the priority"
	}
	parts := make([]string, 0, len(vip.Spec.Track))
	for _, c := range vip.Spec.Track {
		switch w := c.Weight; {
		case w == nil || *w == 0:
			parts = append(parts, c.Name+" (FAULT while failing)")
		case *w < 0:
			parts = append(parts, fmt.Sprintf("%s (%d while failing)", c.Name, *w))
		default:
			parts = append(parts, fmt.Sprintf("%s (+%d while passing)", c.Name, *w))
		}
	}
	return "spec.track " + strings.Join(parts, ", ") + ": the node's status entry lists what each adds now"
}

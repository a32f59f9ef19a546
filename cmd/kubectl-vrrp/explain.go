package main

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

var explainCommand = command{
	name:  "explain",
	usage: "NAME [--node NODE] [-o json|yaml]",
	short: "Explain who is Master and why: each node's priority, rule by rule, as the agent applies them.",
	long: `The rules, in the agent's order: spec.priority, nodePriorities (first match), the preferred-node annotation,
then the first of the maintenance annotation, the exclude label and cordon (onCordon Demote, Release or
Ignore). The numbers come from the agent's own code (agent/desired) applied to the VirtualIP and Node
objects as they are now; status shows what the agents run, with what the checks of spec.track add on
each node, which only the node itself knows.`,
	nargs: 1,
	flags: func(fs *pflag.FlagSet, o *options) {
		fs.StringVar(&o.node, "node", "", "the node to explain (default: the one that should be Master)")
	},
	run: runExplain,
}

// explained is what explain reports; -o json prints it.
type explained struct {
	VirtualIP string `json:"virtualIP"`
	Preempt   bool   `json:"preempt"`
	// Master is status.master, what the controller saw; ExpectedMaster what the policy says, "" when
	// it cannot tell (tie without addresses, preempt off, nobody live).
	Master         string          `json:"master"`
	ExpectedMaster string          `json:"expectedMaster"`
	Conclusion     string          `json:"conclusion"`
	Nodes          []explainedNode `json:"nodes"`
	// Tracked says the VirtualIP has checks (spec.track), whose weights each node adds.
	Tracked bool `json:"tracked,omitempty"`
	// Node is the node explained step by step.
	Node *explainedNode `json:"node,omitempty"`
}

type explainedNode struct {
	desired.Explanation
	// Status is the node's entry as its agent reports it, nil when it has none.
	Status *vrrpv1.NodeStatus `json:"status,omitempty"`
}

func runExplain(ctx context.Context, a *app, c client.Client, o *options, args []string) error {
	v, err := getVIP(ctx, c, args[0])
	if err != nil {
		return err
	}
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}
	if o.node != "" && !containsNode(nodes, o.node) {
		return fmt.Errorf("node %q not found (kubectl get nodes lists them)", o.node)
	}
	all, err := desired.ExplainAll(v, nodes.items)
	if err != nil {
		return fmt.Errorf("explaining VirtualIP %s: %w", v.Name, err)
	}
	out := explained{VirtualIP: v.Name, Master: v.Status.Master, Preempt: v.Spec.Preempt == nil || *v.Spec.Preempt,
		Tracked: len(v.Spec.Track) > 0}
	for _, ex := range all {
		out.Nodes = append(out.Nodes, explainedNode{Explanation: ex, Status: entryOf(v, ex.Node)})
	}
	out.ExpectedMaster, out.Conclusion = conclude(v, nodes, out.Nodes)
	focus := o.node
	if focus == "" {
		focus = out.ExpectedMaster
	}
	if focus == "" {
		focus = v.Status.Master
	}
	if focus == "" && len(out.Nodes) > 0 && out.Nodes[0].Participates {
		focus = out.Nodes[0].Node
	}
	for i := range out.Nodes {
		if out.Nodes[i].Node == focus {
			out.Node = &out.Nodes[i]
		}
	}
	if o.node != "" {
		out.Conclusion += " " + standing(out, o.node)
	}
	if o.output != "" {
		return a.print(o.output, out)
	}
	a.printExplain(out)
	return nil
}

// conclude says which node the policy makes Master and whether status agrees.
func conclude(v *vrrpv1.VirtualIP, nodes nodeSet, all []explainedNode) (string, string) {
	var cands, out []explainedNode
	for _, n := range all {
		switch {
		case !n.Participates:
		case n.Released:
			out = append(out, n)
		case !liveAs(n.Status, n.Explanation, nodes):
			out = append(out, n)
		default:
			cands = append(cands, n)
		}
	}
	var b strings.Builder
	expected := ""
	switch {
	case len(cands) == 0:
		b.WriteString("No node can hold the VIP: none that takes part runs the router and is not released.")
	default:
		// The priorities the nodes stand at: what the policy gives, and what their checks
		// (spec.track) add now, as their entries report them.
		prio := func(n explainedNode) uint8 { return weighed(n.Explanation, n.Status) }
		slices.SortStableFunc(cands, func(a, b explainedNode) int { return cmp.Compare(prio(b), prio(a)) })
		top := prio(cands[0])
		var tied []explainedNode
		for _, n := range cands {
			if prio(n) == top {
				tied = append(tied, n)
			}
		}
		if len(tied) == 1 {
			expected = tied[0].Node
			fmt.Fprintf(&b, "%s should be Master: it has the highest effective priority (%d) of the nodes that run the router", expected, top)
			if top != tied[0].Effective {
				fmt.Fprintf(&b, " (%d and its checks, as its entry reports)", tied[0].Effective)
			}
			b.WriteString(".")
		} else {
			names := make([]string, len(tied))
			for i, n := range tied {
				names[i] = n.Node
			}
			var holders []explainedNode
			for _, n := range tied {
				if n.Status != nil && n.Status.State == vrrpv1.StateMaster {
					holders = append(holders, n)
				}
			}
			switch w, addr := byAddress(v, nodes, tied); {
			case len(holders) == 1:
				// A Backup preempts only a Master of strictly lower priority (RFC 9568 §6.4.2):
				// the addresses decide a tie only between Masters (§6.4.3), or when none is Master.
				expected = holders[0].Node
				fmt.Fprintf(&b, "%s tie at priority %d: %s holds the VIP and keeps it, as a Backup of equal priority does not preempt (RFC 9568 §6.4.2).",
					strings.Join(names, ", "), top, expected)
			case w != "":
				expected = w
				fmt.Fprintf(&b, "%s tie at priority %d: the higher primary address wins (RFC 9568 §6.4.3): %s (%s) should be Master.", strings.Join(names, ", "), top, w, addr)
			default:
				fmt.Fprintf(&b, "%s tie at priority %d: the higher primary address wins (RFC 9568 §6.4.3).", strings.Join(names, ", "), top)
			}
		}
		if !cands[0].Preempt {
			fmt.Fprintf(&b, " Preempt is off: a Master keeps the VIP while it runs, so the highest priority wins only at startup or when the Master leaves.")
			expected = ""
		}
	}
	if len(out) > 0 {
		var names []string
		for _, n := range out {
			why := "no report"
			switch {
			case n.Released:
				why = "released: " + n.Reason
			case n.Status == nil && n.Unlisted:
				why = "not listed: an entry only while MASTER"
			case n.Status != nil && running(n.Status):
				why = darkNote(n.Node, nodes)
			case n.Status != nil:
				why = string(n.Status.State)
			}
			names = append(names, fmt.Sprintf("%s (%s)", n.Node, why))
		}
		fmt.Fprintf(&b, " Not counted: %s.", strings.Join(names, ", "))
	}
	switch master := v.Status.Master; {
	case master == "":
		b.WriteString(" Status shows no Master.")
	case expected == "" || master == expected:
		fmt.Fprintf(&b, " Status: %s is Master.", master)
	default:
		fmt.Fprintf(&b, " Status says %s is Master: the agents have not applied the change yet, or %s cannot hold the VIP (kubectl vrrp status %s).",
			master, expected, v.Name)
	}
	return expected, b.String()
}

// weighed is the priority the policy gives ex's node with what its checks add now, as its entry e
// (nil: none) reports them, kept between 1 and 254 as the agent keeps it (desired.Track), which
// weighs no router a cordon demotes (Resign).
func weighed(ex desired.Explanation, e *vrrpv1.NodeStatus) uint8 {
	sum := checksWeight(e)
	if sum == 0 || ex.Effective == 0 || ex.Resign {
		return ex.Effective
	}
	return withChecks(ex.Effective, sum)
}

// checksWeight is what the checks of entry e (nil: none) add to its node's priority now.
func checksWeight(e *vrrpv1.NodeStatus) int {
	sum := 0
	if e != nil {
		for _, c := range e.Checks {
			sum += int(c.Weight)
		}
	}
	return sum
}

// withChecks is base with sum added, kept between 1 and 254 as the agent keeps it (desired.Track).
func withChecks(base uint8, sum int) uint8 {
	return uint8(min(max(int(base)+sum, 1), desired.PreferredPriority))
}

// byAddress breaks a tie as VRRP does: the higher primary address, the one each node published in
// status, else its InternalIP of the VirtualIP's family.
func byAddress(v *vrrpv1.VirtualIP, nodes nodeSet, tied []explainedNode) (string, netip.Addr) {
	ipv6 := len(v.Spec.Addresses) > 0 && strings.Contains(v.Spec.Addresses[0], ":")
	var best string
	var bestAddr netip.Addr
	for _, n := range tied {
		addr := primaryAddress(n, nodes, ipv6)
		if !addr.IsValid() {
			return "", netip.Addr{}
		}
		if !bestAddr.IsValid() || addr.Compare(bestAddr) > 0 {
			best, bestAddr = n.Node, addr
		}
	}
	return best, bestAddr
}

func primaryAddress(n explainedNode, nodes nodeSet, ipv6 bool) netip.Addr {
	if n.Status != nil {
		if a, err := netip.ParseAddr(n.Status.Address); err == nil && a.Is6() == ipv6 {
			return a
		}
	}
	for _, node := range nodes.items {
		if node.Name != n.Node {
			continue
		}
		for _, na := range node.Status.Addresses {
			if a, err := netip.ParseAddr(na.Address); na.Type == corev1.NodeInternalIP && err == nil && a.Unmap().Is6() == ipv6 {
				return a.Unmap()
			}
		}
	}
	return netip.Addr{}
}

// standing says where one node stands against the expected Master.
func standing(out explained, node string) string {
	var me *explainedNode
	for i := range out.Nodes {
		if out.Nodes[i].Node == node {
			me = &out.Nodes[i]
		}
	}
	switch {
	case me == nil || !me.Participates:
		return fmt.Sprintf("%s does not take part: the nodeSelector (%s) does not select it.", node, out.Nodes[0].Selector)
	case me.Released:
		return fmt.Sprintf("%s takes no part now: %s (it advertises priority 0).", node, me.Reason)
	case out.ExpectedMaster == node:
		return fmt.Sprintf("%s outranks every other node that runs the router.", node)
	case out.ExpectedMaster != "":
		for _, n := range out.Nodes {
			if n.Node == out.ExpectedMaster {
				return fmt.Sprintf("%s stays Backup: %s outranks it (%d > %d).", node, n.Node, n.Effective, me.Effective)
			}
		}
	}
	return ""
}

func (a *app) printExplain(out explained) {
	w := a.stdout
	a.line(w, bold, "VirtualIP %s: preempt %v, status.master %s", out.VirtualIP, onOff(out.Preempt), orDash(out.Master))
	fmt.Fprintln(w)
	rows := make([][]cell, 0, len(out.Nodes))
	for _, n := range out.Nodes {
		prio, reason := txt(fmt.Sprint(n.Effective)), txt(orDash(n.Reason))
		switch {
		case !n.Participates:
			prio, reason = txt("-"), txt("not selected")
		case n.Released:
			prio.colour, reason.colour = yellow, yellow
		case n.Node == out.ExpectedMaster:
			prio.colour = green
		}
		st := txt("no report")
		if n.Unlisted {
			st = txt("not listed") // it writes an entry only while MASTER
		}
		if n.Status != nil {
			st = txt(fmt.Sprintf("%s %d", n.Status.State, n.Status.Priority))
			if n.Participates && !n.Released && n.Status.Priority != int32(n.Effective) && running(n.Status) {
				if out.Tracked && current(n.Explanation, n.Status) {
					st.text += " (with its checks)"
				} else {
					st.text += " (not applied yet?)"
					st.colour = yellow
				}
			}
		}
		rows = append(rows, []cell{txt(n.Node), prio, reason, st})
	}
	a.table(w, []string{"NODE", "POLICY PRIORITY", "REASON", "STATUS"}, rows)
	fmt.Fprintln(w)
	col := green
	if out.ExpectedMaster == "" || (out.Master != "" && out.Master != out.ExpectedMaster) {
		col = yellow
	}
	a.line(w, col, "%s", out.Conclusion)
	if out.Node == nil {
		return
	}
	n := out.Node
	fmt.Fprintln(w)
	if !n.Participates {
		fmt.Fprintf(w, "%s does not take part: the nodeSelector (%s) does not select it.\n", n.Node, n.Selector)
		return
	}
	fmt.Fprintf(w, "How %s gets its priority, in the order the agent applies the rules:\n", n.Node)
	steps := make([][]cell, 0, len(n.Steps))
	for i, s := range n.Steps {
		prio := txt(fmt.Sprint(s.Priority))
		if s.Released {
			prio = painted(yellow, fmt.Sprintf("0 (released, %d kept)", s.Priority))
		}
		rule := txt(s.Rule)
		if s.Applied {
			rule.colour = green
		}
		steps = append(steps, []cell{txt(fmt.Sprint(i + 1)), rule, prio, txt(s.Detail)})
	}
	a.table(w, []string{"#", "RULE", "PRIORITY", "DETAIL"}, steps)
	result := fmt.Sprintf("=> %s advertises priority %d", n.Node, n.Effective)
	if n.Resign {
		result += " and a Master hands over at once"
	}
	if n.StartsAsMaster && (n.Status == nil || n.Status.Priority == int32(n.Effective)) {
		// Checks may weigh it down (or others up): then its entry's priority says where it stands.
		result += "; it outranks every other node and starts as Master"
	}
	switch {
	case n.Status != nil:
		result += fmt.Sprintf("; its agent reports %s at %d", n.Status.State, n.Status.Priority)
	case n.Unlisted:
		result += fmt.Sprintf("; it is not listed in status (after the first %d nodes: an entry only while MASTER)", vrrpv1.MaxListedNodes)
	default:
		result += "; its agent has not reported"
	}
	fmt.Fprintln(w, result+".")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

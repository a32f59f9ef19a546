package controllers

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Event reasons, CamelCase and stable: people and tools switch on them. The condition reasons of
// api/v1alpha1 are reused where they name the same thing.
const (
	EventMasterElected    = "MasterElected"
	EventSplitBrain       = vrrpv1.ReasonSplitBrain
	EventNoMaster         = vrrpv1.ReasonNoMaster
	EventRouterIDConflict = vrrpv1.ReasonRouterIDConflict
	EventHookFailed       = vrrpv1.ReasonHookFailed
	EventHealthy          = vrrpv1.ReasonHealthy
	EventInvalidSpec      = vrrpv1.ReasonInvalidSpec
	EventFlapping         = vrrpv1.ReasonFlapping
)

// ErrInvalidSpec marks a VirtualIP that no retry can summarise until its spec changes.
var ErrInvalidSpec = errors.New("invalid VirtualIP spec")

// maxConditionMessage is the longest message metav1.Condition admits.
const maxConditionMessage = 32768

// listLimit caps the names a message lists, so that a cluster of thousands of nodes still gets a
// readable condition and an Event note under its 1 kB limit.
const listLimit = 8

// Summary is what the controller makes of one VirtualIP: the fields it owns in status, the entries
// it must remove and the Events that announce a change.
type Summary struct {
	// Master is the node that holds the addresses, empty when none or several do.
	Master string
	// Conditions are Ready and Degraded, in that order, with lastTransitionTime carried over from
	// the VirtualIP's current conditions when their status did not change (meta.SetStatusCondition).
	Conditions []metav1.Condition
	// StaleNodes are the nodes whose status entries must go, sorted: the Node is gone or no longer
	// matches spec.nodeSelector.
	StaleNodes []string
	// Events announce the conditions whose status or reason changed.
	Events []Event
	// Settling is how long VRRP itself may take to end the state Ready reports, zero when that state
	// is settled. A handover passes through no Master or two (handoverBound); the controller
	// announces such a state only once it has lasted longer, and such states that keep recurring
	// as Flapping (handovers.hold).
	Settling time.Duration
	// reported is whether an entry counts (live or dark; stale ones do not).
	reported bool
}

// Event is one Kubernetes Event to record about the VirtualIP.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type string
	// Reason is one of the Event* constants.
	Reason string
	// Note is the human-readable message.
	Note string
}

// Summarize decides the controller's part of vip's status from the agents' entries, the cluster's
// Nodes (name to labels), the nodes gone dark (name to dark.NodeUnreachable or dark.AgentGone) and the
// other VirtualIPs (vip itself may be among them). now stamps the conditions that change status.
// It reads its arguments and changes none of them.
//
// The rules, in the order they win:
//   - an entry is stale when its Node is gone or no longer matches spec.nodeSelector (unset or
//     empty: every node); stale entries count for nothing below;
//   - an entry of a node gone dark counts as UNKNOWN, never as MASTER: its agent cannot tell what
//     the node does now, and the live Master must win. The conditions name such entries;
//   - Ready is True (OneMaster) when exactly one entry is MASTER, else False (SplitBrain or NoMaster);
//     when more than vrrpv1.MaxListedNodes nodes are selected its message says so: the entries
//     are those of the first by name, the others' agents writing one only while MASTER (but for
//     unicast, which lists every node);
//   - Degraded is True with reason SplitBrain (two or more MASTERs), else RouterIDConflict (an older
//     VirtualIP with the same VRID and family on a node of both, on the same interface, or a live
//     agent that reports it refused the router for that reason), else
//     HookFailed (an entry's last hook exited non-zero or timed out), else NoMaster (entries, none
//     MASTER), else False (Healthy). The controller turns a False Degraded into True with reason
//     Flapping while short gaps keep coming (handovers.hold), which its memory knows (a new leader
//     keeps the mark it finds stored for a window).
//
// Before any agent has reported, Ready is False (NoMaster) but Degraded is False: a VirtualIP that
// was just created, or that selects no node, is not broken, and flagging it would raise a warning on
// every creation. Neither announces itself with an Event either; every later change does.
//
// A spec no agent can run (a selector that does not parse: the agents report FAULT) overrides all of
// the above: Ready False and Degraded True, both with reason InvalidSpec and the error, no master,
// and no entry removed, since which nodes match cannot be told.
func Summarize(vip *vrrpv1.VirtualIP, others []vrrpv1.VirtualIP, nodes map[string]labels.Set, dark map[string]string, now metav1.Time) Summary {
	selector, err := participants(&vip.Spec)
	if err != nil {
		return invalidSpec(vip, err, now)
	}
	var (
		sum      Summary
		live     []vrrpv1.NodeStatus
		reported []string // every counted entry's state, UNKNOWN ones too, as "a BACKUP"
		unknown  []string // the UNKNOWN ones alone
		masters  []string
	)
	for _, e := range vip.Status.Nodes {
		set, exists := nodes[e.Node]
		if !exists || !selector.Matches(set) {
			sum.StaleNodes = append(sum.StaleNodes, e.Node)
			continue
		}
		if why := dark[e.Node]; why != "" {
			s := fmt.Sprintf("%s %s (%s, last reported %s)", e.Node, StateUnknown, why, e.State)
			reported, unknown = append(reported, s), append(unknown, s)
			continue
		}
		live = append(live, e)
		reported = append(reported, e.Node+" "+string(e.State))
		if e.State == vrrpv1.StateMaster {
			masters = append(masters, e.Node)
		}
	}
	slices.Sort(sum.StaleNodes)
	slices.Sort(masters)
	slices.Sort(reported)
	slices.Sort(unknown)
	slices.SortFunc(live, func(a, b vrrpv1.NodeStatus) int { return strings.Compare(a.Node, b.Node) })
	darkNote := ""
	if len(unknown) > 0 {
		darkNote = "; " + list(unknown)
	}

	ready := metav1.Condition{Type: vrrpv1.ConditionReady}
	switch {
	case len(masters) == 1:
		sum.Master = masters[0]
		ready.Status, ready.Reason = metav1.ConditionTrue, vrrpv1.ReasonOneMaster
		ready.Message = fmt.Sprintf("node %s is MASTER", masters[0]) + darkNote
	case len(masters) > 1:
		ready.Status, ready.Reason = metav1.ConditionFalse, vrrpv1.ReasonSplitBrain
		ready.Message = fmt.Sprintf("%d nodes are MASTER: %s", len(masters), list(masters)) + darkNote
		sum.Settling = handoverBound(&vip.Spec, vrrpv1.ReasonSplitBrain, live, false)
	case len(reported) > 0:
		ready.Status, ready.Reason = metav1.ConditionFalse, vrrpv1.ReasonNoMaster
		ready.Message = "no node is MASTER: " + list(reported)
		sum.Settling = handoverBound(&vip.Spec, vrrpv1.ReasonNoMaster, live, unlistedTakers(vip, selector, nodes, dark))
	default:
		ready.Status, ready.Reason = metav1.ConditionFalse, vrrpv1.ReasonNoMaster
		ready.Message = waitingMessage(selector, nodes)
	}
	// Not the count: a node joining would rewrite every large VirtualIP's status.
	if !vip.Spec.Unicast && selectsMore(selector, nodes, vrrpv1.MaxListedNodes) {
		ready.Message += fmt.Sprintf("; more than %d nodes selected: status lists the first %d by name and any MASTER", vrrpv1.MaxListedNodes, vrrpv1.MaxListedNodes)
	}

	degraded := metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue}
	conflicts := routerIDConflicts(vip, selector, others, nodes)
	if conflicts == "" {
		conflicts = refusals(live)
	}
	hooks := failedHooks(live)
	switch {
	case len(masters) > 1:
		degraded.Reason, degraded.Message = vrrpv1.ReasonSplitBrain, ready.Message
	case len(conflicts) > 0:
		degraded.Reason, degraded.Message = vrrpv1.ReasonRouterIDConflict, conflicts
	case len(hooks) > 0:
		degraded.Reason, degraded.Message = vrrpv1.ReasonHookFailed, hooks
	case len(reported) > 0 && len(masters) == 0:
		degraded.Reason, degraded.Message = vrrpv1.ReasonNoMaster, ready.Message
	default:
		degraded.Status, degraded.Reason, degraded.Message = metav1.ConditionFalse, vrrpv1.ReasonHealthy, ready.Message
	}

	sum.Conditions = conditions(vip, now, ready, degraded)
	// A handover held until it ended (handovers.hold) goes from one Master straight to another:
	// Ready stays True and nothing is recorded here. The new Master's agent records BecameMaster
	// (and the old one's BecameBackup) about the VirtualIP as it takes over, which says it.
	sum.reported = len(reported) > 0
	sum.Events = transitions(vip.Status.Conditions, ready, degraded, sum.reported)
	return sum
}

// reportLatency is the default of Options.ReportLatency: how far apart two agents' status writes
// about one handover may reach the controller beyond the protocol's own bound (each agent writes
// its entry after its own transition, through its own connection to the API server).
const reportLatency = time.Second

// handoverBound is how long VRRP itself may take to end a state that a handover passes through,
// reason being the Ready reason of that state (RFC 9568 §6.1 defines the timers, §6.4 their use;
// RFC 3768 §6.1 and §6.4 are the same for version 2):
//   - NoMaster: a Backup takes over when it has heard no advertisement for Master_Down_Interval,
//     3 × Master_Adver_Interval + Skew_Time, after the Master went silent or, at startup, after
//     leaving Initialize (§6.4.1, §6.4.2). A Master that resigns (priority 0) is replaced after
//     Skew_Time alone. Skew_Time is longest for the lowest priority, so the bound is that of the
//     lowest-priority entry: whichever Backup takes over does so within it. Only a router in
//     Backup, or in Initialize on its way there, can take over: with none live (all FAULT or
//     STOPPED, or every node dark) no handover is under way and nothing is held. unlisted says
//     that selected nodes past MaxListedNodes, which have no entry unless MASTER, may be such
//     Backups, of a priority unknown.
//   - SplitBrain: a Master that receives an advertisement of a higher priority (or of the same
//     priority from a higher address) becomes Backup at once (§6.4.3), and a new Master sends one
//     advertisement as it takes over and then one per Master_Adver_Interval (§6.4.2). Two Masters
//     thus last one advertisement's trip, or one interval when that advertisement is lost: the
//     bound is Master_Adver_Interval. Skew_Time, always shorter, would raise an alarm for every
//     lost packet.
func handoverBound(spec *vrrpv1.VirtualIPSpec, reason string, live []vrrpv1.NodeStatus, unlisted bool) time.Duration {
	interval := time.Second
	if spec.AdvertInterval != nil && spec.AdvertInterval.Duration > 0 {
		interval = spec.AdvertInterval.Duration
	}
	if reason == vrrpv1.ReasonSplitBrain {
		return interval
	}
	version := uint8(vrrpv1.VRRPv3)
	if spec.Version == vrrpv1.VRRPv2 {
		version = uint8(vrrpv1.VRRPv2)
	}
	// Priorities a Backup can have (1-254, RFC 9568 §5.2.4); none known: 1, the longest Skew_Time.
	lowest, takers := int32(0), 0
	for _, e := range live {
		if e.State != vrrpv1.StateBackup && e.State != vrrpv1.StateInit {
			continue
		}
		takers++
		if e.Priority >= 1 && e.Priority <= 254 && (lowest == 0 || e.Priority < lowest) {
			lowest = e.Priority
		}
	}
	if unlisted {
		takers, lowest = takers+1, 1
	}
	if takers == 0 {
		return 0
	}
	lowest = max(lowest, 1)
	return vrrp.MasterDownInterval(version, uint8(lowest), interval)
}

// invalidSpec is the Summary of a VirtualIP whose spec no agent can run: err says why.
func invalidSpec(vip *vrrpv1.VirtualIP, err error, now metav1.Time) Summary {
	msg := fmt.Sprintf("%v: the agents cannot run this VirtualIP until its spec is fixed", err)
	ready := metav1.Condition{Type: vrrpv1.ConditionReady, Status: metav1.ConditionFalse, Reason: vrrpv1.ReasonInvalidSpec, Message: msg}
	degraded := metav1.Condition{Type: vrrpv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: vrrpv1.ReasonInvalidSpec, Message: msg}
	return Summary{
		Conditions: conditions(vip, now, ready, degraded),
		Events:     transitions(vip.Status.Conditions, ready, degraded, len(vip.Status.Nodes) > 0),
	}
}

// conditions returns ready and degraded as vip's conditions become with them: meta.SetStatusCondition
// keeps lastTransitionTime unless the status changes. Working on a copy leaves vip alone.
func conditions(vip *vrrpv1.VirtualIP, now metav1.Time, ready, degraded metav1.Condition) []metav1.Condition {
	conds := slices.Clone(vip.Status.Conditions)
	for _, c := range []metav1.Condition{ready, degraded} {
		c.ObservedGeneration = vip.Generation
		c.LastTransitionTime = now
		c.Message = truncate(c.Message, maxConditionMessage)
		meta.SetStatusCondition(&conds, c)
	}
	out := make([]metav1.Condition, 0, 2)
	for _, t := range []string{vrrpv1.ConditionReady, vrrpv1.ConditionDegraded} {
		out = append(out, *meta.FindStatusCondition(conds, t))
	}
	return out
}

// transitions announces the conditions whose status or reason changed. Ready and Degraded can both
// move to the same reason (SplitBrain, NoMaster); one Event says it. So does one on the way back:
// when Ready turns True and Degraded, which only mirrored Ready's reason, turns Healthy with the
// same message, MasterElected says both.
func transitions(old []metav1.Condition, ready, degraded metav1.Condition, reported bool) []Event {
	var out []Event
	add := func(e Event) {
		if !slices.ContainsFunc(out, func(o Event) bool { return o.Reason == e.Reason }) {
			out = append(out, e)
		}
	}
	prevReady := meta.FindStatusCondition(old, ready.Type)
	elected := false
	if changed(prevReady, ready) {
		switch {
		case ready.Status == metav1.ConditionTrue:
			add(Event{Type: corev1.EventTypeNormal, Reason: EventMasterElected, Note: ready.Message})
			elected = true
		case prevReady != nil || reported:
			add(Event{Type: corev1.EventTypeWarning, Reason: ready.Reason, Note: ready.Message})
		}
	}
	if prev := meta.FindStatusCondition(old, degraded.Type); changed(prev, degraded) {
		mirrored := elected && prev != nil && prevReady != nil && prev.Reason == prevReady.Reason && degraded.Message == ready.Message
		switch {
		case degraded.Status == metav1.ConditionTrue:
			add(Event{Type: corev1.EventTypeWarning, Reason: degraded.Reason, Note: degraded.Message})
		case prev != nil && !mirrored:
			add(Event{Type: corev1.EventTypeNormal, Reason: EventHealthy, Note: degraded.Message})
		}
	}
	return out
}

func changed(prev *metav1.Condition, c metav1.Condition) bool {
	return prev == nil || prev.Status != c.Status || prev.Reason != c.Reason
}

// participants is spec.Participants, once every selector of spec parses: the agents parse the
// selectors of nodePriorities too, and go FAULT on one that does not. The API server checks the
// operators and values of spec.nodeSelector, not the syntax of keys and values, nor anything of
// objects stored before its rules existed. Errors wrap ErrInvalidSpec: retrying cannot fix them.
func participants(spec *vrrpv1.VirtualIPSpec) (labels.Selector, error) {
	sel, err := spec.Participants()
	if err != nil {
		return nil, fmt.Errorf("%w: spec.%w", ErrInvalidSpec, err)
	}
	for i, np := range spec.NodePriorities {
		if np.Selector == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(np.Selector); err != nil {
			return nil, fmt.Errorf("%w: spec.nodePriorities[%d].selector: %w", ErrInvalidSpec, i, err)
		}
	}
	return sel, nil
}

// selectsMore says whether selector selects more than limit of nodes.
// unlistedTakers says whether vip's multicast router selects more nodes than status lists, and a
// selected node that is not dark has no entry: an unlisted node, which may be a Backup that takes
// over (see handoverBound).
func unlistedTakers(vip *vrrpv1.VirtualIP, selector labels.Selector, nodes map[string]labels.Set, dark map[string]string) bool {
	if vip.Spec.Unicast || !selectsMore(selector, nodes, vrrpv1.MaxListedNodes) {
		return false
	}
	listed := make(map[string]bool, len(vip.Status.Nodes))
	for _, e := range vip.Status.Nodes {
		listed[e.Node] = true
	}
	for n, set := range nodes {
		if !listed[n] && dark[n] == "" && selector.Matches(set) {
			return true
		}
	}
	return false
}

func selectsMore(selector labels.Selector, nodes map[string]labels.Set, limit int) bool {
	n := 0
	for _, set := range nodes {
		if selector.Matches(set) {
			if n++; n > limit {
				return true
			}
		}
	}
	return false
}

func waitingMessage(selector labels.Selector, nodes map[string]labels.Set) string {
	for _, set := range nodes {
		if selector.Matches(set) {
			return "no agent has reported yet"
		}
	}
	return "no node matches nodeSelector"
}

// routerIDConflicts describes the older VirtualIPs that share vip's VRID and address family on some
// node and interface, sorted by name; empty when none does. Two routers with one VRID and family on
// one interface share a virtual MAC and each other's adverts (RFC 9568 §7.3): they fight. The
// agents settle it as desired.Derive does, oldest first (creationTimestamp, then name): on each
// node the VirtualIP that was there first keeps the VRID and the newcomer is refused. So only the
// newcomer is in conflict, and its summary names the VirtualIP it must make way for.
//
// The interface of a VirtualIP on a node is spec.interface, or when that is empty the one its agent
// reported in the node's entry. When both are known they decide; until then the routers are taken to
// share an interface when their spec.interface is the same, both empty included, because an empty
// interface follows the address's subnet and the same family makes the same subnet likely. That
// guess is not made where the entries settle it (settledBy).
// A VirtualIP with an invalid nodeSelector takes part nowhere; its own summary reports the error.
func routerIDConflicts(vip *vrrpv1.VirtualIP, selector labels.Selector, others []vrrpv1.VirtualIP, nodes map[string]labels.Set) string {
	var found []string
	for i := range others {
		o := &others[i]
		if o.Name == vip.Name || o.Spec.VirtualRouterID != vip.Spec.VirtualRouterID || ipv6(o) != ipv6(vip) || !older(o, vip) {
			continue
		}
		sel, err := participants(&o.Spec)
		if err != nil {
			continue
		}
		var shared []string
		for n, set := range nodes {
			if selector.Matches(set) && sel.Matches(set) && sameInterface(vip, o, n) {
				shared = append(shared, n)
			}
		}
		if len(shared) == 0 {
			continue
		}
		slices.Sort(shared)
		family := "IPv4"
		if ipv6(vip) {
			family = "IPv6"
		}
		found = append(found, fmt.Sprintf("VirtualIP %s, older, uses VRID %d for %s on the same interface of %s: it keeps the VRID there and this one is refused",
			o.Name, vip.Spec.VirtualRouterID, family, nodeList(shared)))
	}
	slices.Sort(found)
	return strings.Join(limit(found, 3), "; ")
}

// refusals describes the live entries whose agent refused the router for a VRID another VirtualIP
// holds on that node; empty when none did. The agent knows what the controller may not: the
// interface an older VirtualIP in error would take there, which it reports with no entry of its own.
func refusals(live []vrrpv1.NodeStatus) string {
	var found []string
	for _, e := range live {
		if e.State == vrrpv1.StateFault && e.Reason == vrrpv1.ReasonRouterIDConflict {
			found = append(found, fmt.Sprintf("node %s refuses it: %s", e.Node, e.Message))
		}
	}
	return strings.Join(limit(found, 3), "; ")
}

// settledBy says whether the entries on node settle what routerIDConflicts would otherwise guess,
// when they do not both name an interface: a VirtualIP whose interface its agent cannot choose
// there (NoInterface, AmbiguousInterface) neither runs nor keeps a VRID there (desired.Derive's
// reservation). The newer one's own FAULT then says why it does not run, and the older one leaves
// the VRID to it.
func settledBy(newer, older *vrrpv1.VirtualIP, node string) bool {
	return noInterfaceOn(newer, node) || noInterfaceOn(older, node)
}

func noInterfaceOn(vip *vrrpv1.VirtualIP, node string) bool {
	e := entryOn(vip, node)
	return e != nil && e.State == vrrpv1.StateFault && (e.Reason == reasonNoInterface || e.Reason == reasonAmbiguousInterface)
}

// The reasons of the FAULT entry of an agent that cannot choose a VirtualIP's interface
// (desired.RouterError.Reason).
const (
	reasonNoInterface        = "NoInterface"
	reasonAmbiguousInterface = "AmbiguousInterface"
)

func entryOn(vip *vrrpv1.VirtualIP, node string) *vrrpv1.NodeStatus {
	for i := range vip.Status.Nodes {
		if vip.Status.Nodes[i].Node == node {
			return &vip.Status.Nodes[i]
		}
	}
	return nil
}

// older reports whether a takes precedence over b for a VRID, as desired.Derive orders them.
func older(a, b *vrrpv1.VirtualIP) bool {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c < 0
	}
	return a.Name < b.Name
}

// sameInterface says whether newer and older share an interface on node (routerIDConflicts).
func sameInterface(newer, older *vrrpv1.VirtualIP, node string) bool {
	ia, ib := interfaceOn(newer, node), interfaceOn(older, node)
	if ia != "" && ib != "" {
		return ia == ib
	}
	if settledBy(newer, older, node) {
		return false
	}
	return newer.Spec.Interface == older.Spec.Interface
}

func interfaceOn(vip *vrrpv1.VirtualIP, node string) string {
	if vip.Spec.Interface != "" {
		return vip.Spec.Interface
	}
	if e := entryOn(vip, node); e != nil {
		return e.Interface
	}
	return ""
}

// ipv6 reports the family of the first address; the API admits one family per VirtualIP and tells
// them apart by the colon, as this does.
func ipv6(vip *vrrpv1.VirtualIP) bool {
	return len(vip.Spec.Addresses) > 0 && strings.Contains(vip.Spec.Addresses[0], ":")
}

// failedHooks describes the entries whose last hook failed; empty when none did.
func failedHooks(live []vrrpv1.NodeStatus) string {
	var failed []string
	for _, e := range live {
		h := e.LastHook
		switch {
		case h == nil:
		case h.TimedOut:
			failed = append(failed, fmt.Sprintf("%s hook on node %s timed out", h.Kind, e.Node))
		case h.ExitCode != 0:
			failed = append(failed, fmt.Sprintf("%s hook on node %s exited with %d", h.Kind, e.Node, h.ExitCode))
		}
	}
	return strings.Join(limit(failed, listLimit), "; ")
}

func nodeList(names []string) string {
	if len(names) == 1 {
		return "node " + names[0]
	}
	return "nodes " + list(names)
}

func list(items []string) string {
	return strings.Join(limit(items, listLimit), ", ")
}

// limit keeps the first n items and says how many it left out.
func limit(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(slices.Clone(items[:n]), fmt.Sprintf("%d more", len(items)-n))
}

package desired

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vrrp-dev/vrrp-operator/agent/track"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Defaults of the VirtualIP API (the +kubebuilder:default markers of api/v1alpha1). The API server
// fills them in; Derive applies them as well, so that an object nobody defaulted (built in a test, or
// loaded without an API server) gives the same Router.
const (
	DefaultVersion        = vrrpv1.VRRPv3
	DefaultPriority       = 100
	DefaultAdvertInterval = time.Second
	DefaultOnCordon       = vrrpv1.CordonDemote
	DefaultChecksum       = vrrpv1.ChecksumPseudoHeader
	DefaultSecretKey      = "password"
	DefaultHookTimeout    = 30 * time.Second
	DefaultGARPCount      = 3
	DefaultGARPInterval   = 1100 * time.Millisecond
)

// Priorities that administrative actions impose.
const (
	// PreferredPriority is the priority of the node a VirtualIP's preferred-node annotation names:
	// the highest a non-owner can have (255 is the address owner's, RFC 9568 §5.2.4).
	PreferredPriority = 254
	// DemotedPriority is the priority of a cordoned node under onCordon Demote: the lowest that still
	// takes part, so that the VIP stays up when every node is cordoned.
	DemotedPriority = 1
)

// Reasons of a Router's priority or release, shown in the node's status entry.
const (
	ReasonCordoned    = "Cordoned"
	ReasonMaintenance = "Maintenance"
	ReasonExcluded    = "Excluded"
	ReasonPreferred   = "Preferred"
)

// Why a VirtualIP cannot run on this node. Every RouterError wraps one of them, or
// vrrp.ErrInvalidConfig for a configuration the protocol package refuses.
var (
	// ErrInvalidSpec: the spec cannot be turned into a configuration (an address that does not
	// parse, a VRID out of range, a bad label selector), which the API server normally refuses.
	ErrInvalidSpec = errors.New("invalid VirtualIP spec")
	// ErrSecret: the authentication Secret or its key is missing or empty. The router does not run
	// rather than run without the password, which would split the cluster's routers.
	ErrSecret = errors.New("authentication secret unavailable")
	// ErrNoInterface: spec.interface is empty and no interface of this node holds the subnet of the
	// first address.
	ErrNoInterface = errors.New("no interface holds the address's subnet")
	// ErrAmbiguousInterface: spec.interface is empty and several interfaces hold that subnet.
	ErrAmbiguousInterface = errors.New("several interfaces hold the address's subnet")
	// ErrRouterIDConflict: another VirtualIP uses the same VRID and family on the same interface of
	// this node; both would answer the same adverts and share one virtual MAC.
	ErrRouterIDConflict = errors.New("virtual router ID already in use on this interface")
	// ErrAddressConflict: another VirtualIP holds one of the addresses on the same interface of
	// this node. Each would take and remove the other's address as its own state changes, and on
	// two nodes both would answer for it.
	ErrAddressConflict = errors.New("address already held by another VirtualIP on this interface")
)

// ReasonAddressConflict is the reason of the FAULT entry of a VirtualIP refused for
// ErrAddressConflict.
const ReasonAddressConflict = "AddressConflict"

// Interface is a fact about one of this node's interfaces, gathered by the caller (agent/netif).
type Interface struct {
	Name string
	Up   bool
	// Prefixes are the configured addresses with their prefix length, VIPs excluded by the caller.
	Prefixes []netip.Prefix
}

// Inputs is everything Derive looks at.
type Inputs struct {
	NodeName string
	// Node is this node. When nil, Derive looks NodeName up in Nodes, and failing that treats the
	// node as one with no labels or annotations that is not cordoned (standalone mode without Node
	// objects).
	Node *corev1.Node
	// Nodes are all nodes, for unicast peers.
	Nodes      []corev1.Node
	VirtualIPs []vrrpv1.VirtualIP
	// Secrets hold the VRRPv2 passwords, found by namespace, name and key in Data (the API server
	// has merged stringData into Data; agent/manifests does the same).
	Secrets []corev1.Secret
	// SecretNamespace, when set, is the only namespace a secretRef may name: the agent's own, the
	// one its Role lets it read. Empty (standalone) allows any.
	SecretNamespace string
	Interfaces      []Interface
	// Standalone: no API server, so no pods to watch; pods checks are refused.
	Standalone bool
}

// Router is one VirtualIP as this node runs it.
type Router struct {
	Name string // the VirtualIP's name
	// Config has the effective priority. PrimaryAddress is left zero: the caller fills it in from
	// the interface's addresses. A Released router keeps the priority from nodePriorities,
	// spec.priority or the preferred-node annotation, so that Config stays valid; the node
	// advertises none (see EffectivePriority).
	Config vrrp.Config
	// Interface is spec.interface, taken as is (a missing or down interface is the driver's FAULT,
	// which recovers by itself), or the interface whose subnet holds the first address.
	Interface string
	Unicast   bool
	// Source is, with Unicast, this node's address on Interface that its adverts leave from and
	// that it publishes in its status entry for the other nodes to send to (see unicastSource);
	// zero otherwise, or when Interface has no address of the router's family yet.
	Source netip.Addr
	// Peers are, with Unicast, where adverts go: the address each other node the nodeSelector
	// selects published in status, else its InternalIPs of the router's family; sorted, nil
	// otherwise.
	Peers []netip.Addr
	// PeerSources are, with Unicast, the sources adverts are taken from: those nodes' published
	// addresses and InternalIPs of the family, sorted; nil otherwise.
	PeerSources []netip.Addr
	// Released says the node must not take part: it sends a priority-0 advert, drops the addresses,
	// runs the stop hook and stays out (maintenance, the exclude label, or cordon with Release).
	Released bool
	// Resign says the node is cordoned under Demote: Config.Priority is DemotedPriority and a Master
	// hands over at once (vrrp.SetPriority{Priority: DemotedPriority, Resign: true}).
	Resign bool
	// Reason explains Released, Resign or the priority: "", ReasonCordoned, ReasonMaintenance,
	// ReasonExcluded or ReasonPreferred.
	Reason string
	Hooks  Hooks
	GARP   GARP
	// Checks are spec.track as this node runs them (agent/track); Track applies their results.
	Checks []track.Check
	// CheckStates are, after Track, each check's state and what it adds, in spec order, for status.
	CheckStates []CheckState
	// CheckFault is, after Track, why failing checks put the router in FAULT ("" when none do):
	// the names of unweighted checks that fail, or a file check whose number takes the priority
	// to -254 or below.
	CheckFault string
	// Rank is this node's place, from 0 and by name, among the nodes in the node list that the
	// nodeSelector selects, and Previous the node before it ("" for the first). The status
	// reporter writes a VirtualIP's first entry after Previous's, so that the nodes do not all
	// write the one object at once.
	Rank     int
	Previous string
	// Unlisted says the node's agent writes a status entry only while MASTER (see Unlisted).
	Unlisted bool
}

// CheckState is one check's state on this node and the weight it adds to the priority now.
type CheckState struct {
	Name   string
	Result track.Result
	Weight int
}

// Hooks are the argv of each hook, nil when unset.
type Hooks struct {
	Notify, Master, Backup, Fault, Stop []string
	Timeout                             time.Duration
}

// GARP tunes the announcements of a new Master.
type GARP struct {
	Count    int
	Interval time.Duration
	Refresh  time.Duration // 0: off
}

// EffectivePriority is the priority the node advertises, for status: 0 when Released.
func (r Router) EffectivePriority() uint8 {
	if r.Released {
		return 0
	}
	return r.Config.Priority
}

// WireIdentity is what a running vrrp.Instance cannot change: VRID, version and family
// (vrrp.Instance.CanReconfigure), and the interface its sockets are bound to.
type WireIdentity struct {
	VRID      uint8
	Version   uint8
	IPv6      bool
	Interface string
}

func (w WireIdentity) String() string {
	family := "IPv4"
	if w.IPv6 {
		family = "IPv6"
	}
	return fmt.Sprintf("VRID %d VRRPv%d %s on %s", w.VRID, w.Version, family, w.Interface)
}

// WireIdentity returns r's identity: while it stays the same the driver reconfigures the running
// instance in place (vrrp.Reconfigure, vrrp.SetPriority); when it changes the driver replaces it.
func (r Router) WireIdentity() WireIdentity {
	return WireIdentity{
		VRID:      r.Config.VRID,
		Version:   r.Config.Version,
		IPv6:      isIPv6(r.Config.Addresses),
		Interface: r.Interface,
	}
}

// RouterError is a VirtualIP that cannot run on this node.
type RouterError struct {
	Name string // the VirtualIP's name
	Err  error
	// Rank and Unlisted are as Router's: the FAULT entry of a node after the first
	// vrrpv1.MaxListedNodes is not written. Rank counts among all nodes when the nodeSelector
	// does not parse.
	Rank     int
	Unlisted bool
}

func (e RouterError) Error() string { return fmt.Sprintf("virtual router %q: %v", e.Name, e.Err) }

func (e RouterError) Unwrap() error { return e.Err }

// Reason is a CamelCase word for the node's status entry: InvalidSpec, SecretUnavailable,
// NoInterface, AmbiguousInterface or RouterIDConflict.
func (e RouterError) Reason() string {
	switch {
	case errors.Is(e.Err, ErrSecret):
		return "SecretUnavailable"
	case errors.Is(e.Err, ErrNoInterface):
		return "NoInterface"
	case errors.Is(e.Err, ErrAmbiguousInterface):
		return "AmbiguousInterface"
	case errors.Is(e.Err, ErrRouterIDConflict):
		return vrrpv1.ReasonRouterIDConflict
	case errors.Is(e.Err, ErrAddressConflict):
		return ReasonAddressConflict
	default:
		return "InvalidSpec"
	}
}

// Result is what this node should run, and what it cannot, both sorted by VirtualIP name.
type Result struct {
	Routers []Router
	Errors  []RouterError
}

// Derive returns the Routers this node takes part in. It does not modify in, and the Routers share
// no memory with it. The same inputs in any order give the same Result.
func Derive(in Inputs) Result {
	self := newNodeFacts(in.NodeName, in.Node, in.Nodes)
	vips := make([]*vrrpv1.VirtualIP, len(in.VirtualIPs))
	for i := range in.VirtualIPs {
		vips[i] = &in.VirtualIPs[i]
	}
	// Routers take wire identities and addresses oldest first (creation time, then name), so the
	// VirtualIP that was there first keeps its VRID and addresses on every node and at every run,
	// and a newcomer that reuses one is the one refused, also while the first one cannot run here
	// (reservation) or is refused itself, as the controller's RouterIDConflict says. Objects
	// without a creation time (standalone manifests) go by name.
	slices.SortStableFunc(vips, func(a, b *vrrpv1.VirtualIP) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})

	var res Result
	taken := make(map[conflictKey]string)
	held := make(map[addressKey]string)
	seen := make(map[string]bool, len(vips))
	for _, vip := range vips {
		fail := func(err error) {
			n := rankOf(in, self, vip)
			res.Errors = append(res.Errors, RouterError{Name: vip.Name, Err: err, Rank: n, Unlisted: Unlisted(&vip.Spec, n)})
		}
		if seen[vip.Name] {
			fail(fmt.Errorf("VirtualIP listed twice: %w", ErrInvalidSpec))
			continue
		}
		seen[vip.Name] = true
		r, ok, err := derive(in, self, vip)
		switch {
		case err != nil:
			fail(err)
			// It keeps its VRID and addresses here while it cannot run, so that a newer one is
			// refused now rather than stopped when this error clears.
			if key, ok := reservation(in, self, vip); ok {
				reserve(taken, held, key, addressesOf(vip), vip.Name)
			}
			continue
		case !ok:
			continue
		}
		key := conflictKeyOf(r)
		if other, dup := taken[key]; dup {
			fail(fmt.Errorf("VRID %d on %s is also used by VirtualIP %q: %w", key.vrid, key.iface, other, ErrRouterIDConflict))
			reserve(taken, held, key, r.Config.Addresses, r.Name) // its addresses, as below
			continue
		}
		// The same rule for the addresses: the older VirtualIP keeps them. Only on one interface:
		// separate segments may reuse an address, with a nodeSelector for each.
		if a, other, dup := heldBy(held, r); dup {
			fail(fmt.Errorf("address %s on %s is also held by VirtualIP %q: %w", a, r.Interface, other, ErrAddressConflict))
			// Refused, it keeps its VRID and its other addresses all the same, as a VirtualIP in
			// error does, so that the older one's going does not stop a newer one that took them.
			reserve(taken, held, key, r.Config.Addresses, r.Name)
			continue
		}
		reserve(taken, held, key, r.Config.Addresses, r.Name)
		res.Routers = append(res.Routers, r)
	}
	slices.SortFunc(res.Routers, func(a, b Router) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(res.Errors, func(a, b RouterError) int { return cmp.Compare(a.Name, b.Name) })
	return res
}

// conflictKey is what two routers on one node must not share. The version is not part of it:
// VRRPv2 and VRRPv3 routers with one VRID use the same virtual MAC (RFC 9568 §7.3) and the same
// socket demultiplexer.
type conflictKey struct {
	vrid  uint8
	ipv6  bool
	iface string
}

func conflictKeyOf(r Router) conflictKey {
	return conflictKey{vrid: r.Config.VRID, ipv6: isIPv6(r.Config.Addresses), iface: r.Interface}
}

// reserve records that name holds VRID key and addrs on key's interface, where no older
// VirtualIP does already.
func reserve(taken map[conflictKey]string, held map[addressKey]string, key conflictKey, addrs []netip.Prefix, name string) {
	if _, dup := taken[key]; !dup {
		taken[key] = name
	}
	for _, p := range addrs {
		k := addressKey{addr: p.Addr(), iface: key.iface}
		if _, dup := held[k]; !dup {
			held[k] = name
		}
	}
}

// addressesOf returns the addresses of vip that parse, for a VirtualIP in error.
func addressesOf(vip *vrrpv1.VirtualIP) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range vip.Spec.Addresses {
		if p, err := ParseAddress(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// addressKey is an address held on an interface: two routers on one node must not share one.
type addressKey struct {
	addr  netip.Addr
	iface string
}

// heldBy returns the first of r's addresses that another router holds on r's interface, and that
// router's name.
func heldBy(held map[addressKey]string, r Router) (netip.Addr, string, bool) {
	for _, p := range r.Config.Addresses {
		if other, ok := held[addressKey{addr: p.Addr(), iface: r.Interface}]; ok {
			return p.Addr(), other, true
		}
	}
	return netip.Addr{}, "", false
}

// derive turns one VirtualIP into this node's Router; ok is false when the node does not take part.
func derive(in Inputs, self nodeFacts, vip *vrrpv1.VirtualIP) (r Router, ok bool, err error) {
	spec := &vip.Spec
	selector, err := nodeSelector(spec)
	if err != nil {
		return Router{}, false, err
	}
	if !selector.Matches(self.labels) {
		return Router{}, false, nil
	}
	cfg, err := baseConfig(vip)
	if err != nil {
		return Router{}, false, err
	}
	r = Router{Name: vip.Name, Config: cfg, Unicast: spec.Unicast}
	r.Rank, r.Previous = rank(in.Nodes, self.name, selector)
	r.Unlisted = Unlisted(spec, r.Rank)
	if err := applyNodePolicy(&r, vip, self); err != nil {
		return Router{}, false, err
	}
	r.Config.StartAsMaster = startsAsMaster(in, self, vip, selector, cfg.Priority, r)
	if r.Config.Password, err = password(spec, in.Secrets, in.SecretNamespace); err != nil {
		return Router{}, false, err
	}
	if r.Hooks, err = hooks(spec.Hooks); err != nil {
		return Router{}, false, err
	}
	if r.GARP, err = garp(spec.GARP); err != nil {
		return Router{}, false, err
	}
	if r.Checks, err = checks(spec.Track, in.Standalone); err != nil {
		return Router{}, false, err
	}
	if err := validate(r.Config); err != nil {
		return Router{}, false, err
	}
	// The interface and peers come last: they depend on the family, which only a valid
	// configuration guarantees to be one.
	if r.Interface, err = chooseInterface(spec.Interface, in.Interfaces, r.Config.Addresses[0].Addr()); err != nil {
		return Router{}, false, err
	}
	if r.Unicast {
		r.Source = unicastSource(r.Interface, in.Interfaces, self.internalIPs, r.Config.Addresses[0].Addr())
		r.Peers, r.PeerSources = unicastPeers(in.Nodes, self.name, selector, isIPv6(r.Config.Addresses), vip.Status.Nodes)
	}
	return r, true, nil
}

// startsAsMaster reports whether this node has a higher priority than every other node that takes
// part, with preempt on: it would take the VIP after Master_Down_Interval anyway, so it takes it at
// startup, as keepalived's `state MASTER` does. Only the cluster knows every node's priority; without
// this node in the node list (standalone without Node objects) it waits as RFC 9568 §6.4.1 says.
func startsAsMaster(in Inputs, self nodeFacts, vip *vrrpv1.VirtualIP, selector labels.Selector, base uint8, r Router) bool {
	if r.Released || !r.Config.Preempt || !slices.ContainsFunc(in.Nodes, func(n corev1.Node) bool { return n.Name == self.name }) {
		return false
	}
	for i := range in.Nodes {
		n := &in.Nodes[i]
		if n.Name == self.name {
			continue
		}
		facts := newNodeFacts(n.Name, n, nil)
		if !selector.Matches(facts.labels) {
			continue
		}
		other := Router{Config: vrrp.Config{Priority: base}}
		if err := applyNodePolicy(&other, vip, facts); err != nil {
			return false
		}
		if !other.Released && other.Config.Priority >= r.Config.Priority {
			return false
		}
	}
	return true
}

// validate runs vrrp.Config.Validate, which wants a primary address: the unspecified address of the
// router's family stands in for the one the caller fills in from the interface.
func validate(cfg vrrp.Config) error {
	cfg.PrimaryAddress = netip.IPv4Unspecified()
	if isIPv6(cfg.Addresses) {
		cfg.PrimaryAddress = netip.IPv6Unspecified()
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("validating configuration: %w", err)
	}
	return nil
}

// isIPv6 is the family of a router, that of its first address; Validate makes sure all agree.
func isIPv6(addrs []netip.Prefix) bool {
	return len(addrs) > 0 && addrs[0].Addr().Is6()
}

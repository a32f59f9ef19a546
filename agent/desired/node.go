package desired

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// nodeFacts is what the policy needs to know about this node.
type nodeFacts struct {
	name        string
	labels      labels.Set
	cordoned    bool
	maintenance bool
	excluded    bool
	internalIPs []netip.Addr // for the unicast source
}

func newNodeFacts(name string, node *corev1.Node, nodes []corev1.Node) nodeFacts {
	if node == nil {
		if i := slices.IndexFunc(nodes, func(n corev1.Node) bool { return n.Name == name }); i >= 0 {
			node = &nodes[i]
		}
	}
	f := nodeFacts{name: name, labels: labels.Set{}}
	if node == nil {
		return f
	}
	f.labels = labels.Set(node.Labels)
	f.cordoned = node.Spec.Unschedulable
	// Accept any case of "true": failing to enter maintenance because of "True" would surprise
	// more than the leniency could.
	f.maintenance = strings.EqualFold(node.Annotations[vrrpv1.MaintenanceAnnotation], "true")
	// The label's presence is what counts, as for MetalLB and the cloud providers.
	_, f.excluded = node.Labels[vrrpv1.ExcludeLabel]
	f.internalIPs = internalIPs(node)
	return f
}

// internalIPs are a Node's InternalIPs, in the kubelet's order, zones and IPv4-mapped forms removed.
func internalIPs(n *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue // The kubelet writes what the node has; a stray string is nobody's peer.
		}
		out = append(out, ip.WithZone("").Unmap())
	}
	return out
}

// nodeSelector is spec.Participants, the same reading of nodeSelector as the controller's.
func nodeSelector(spec *vrrpv1.VirtualIPSpec) (labels.Selector, error) {
	sel, err := spec.Participants()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrInvalidSpec)
	}
	return sel, nil
}

// applyNodePolicy sets r's priority, Released, Resign and Reason from the design's "Forcing a
// failover" table. Strongest first: maintenance, the exclude label, cordon, the preferred-node
// annotation, nodePriorities, spec.priority. Cordon beats preference because cordoning is how an
// admin empties a node, and a preference stored on the VirtualIP must not undo it.
func applyNodePolicy(r *Router, vip *vrrpv1.VirtualIP, self nodeFacts) error {
	spec := &vip.Spec
	for i, np := range spec.NodePriorities {
		match, err := nodePriorityMatches(np, self)
		if err != nil {
			return fmt.Errorf("nodePriorities[%d]: %w", i, err)
		}
		if match {
			if np.Priority == 0 { // Required, with no default.
				return fmt.Errorf("nodePriorities[%d].priority is unset: %w", i, ErrInvalidSpec)
			}
			p, err := checkPriority(fmt.Sprintf("nodePriorities[%d].priority", i), np.Priority)
			if err != nil {
				return err
			}
			r.Config.Priority = p
			break
		}
	}
	if self.name != "" && vip.Annotations[vrrpv1.PreferredNodeAnnotation] == self.name {
		r.Config.Priority, r.Reason = PreferredPriority, ReasonPreferred
	}

	onCordon := DefaultOnCordon
	if spec.Failover != nil && spec.Failover.OnCordon != "" {
		onCordon = spec.Failover.OnCordon
	}
	switch onCordon {
	case vrrpv1.CordonDemote, vrrpv1.CordonRelease, vrrpv1.CordonIgnore:
	default:
		return fmt.Errorf("failover.onCordon %q: %w", onCordon, ErrInvalidSpec)
	}
	switch {
	case self.maintenance:
		r.Released, r.Reason = true, ReasonMaintenance
	case self.excluded:
		r.Released, r.Reason = true, ReasonExcluded
	case self.cordoned && onCordon == vrrpv1.CordonRelease:
		r.Released, r.Reason = true, ReasonCordoned
	case self.cordoned && onCordon == vrrpv1.CordonDemote:
		r.Config.Priority, r.Resign, r.Reason = DemotedPriority, true, ReasonCordoned
	}
	return nil
}

// nodePriorityMatches reports whether a nodePriorities entry applies to this node: by name when it
// has one, else by its selector. An entry with neither matches nothing.
func nodePriorityMatches(np vrrpv1.NodePriority, self nodeFacts) (bool, error) {
	if np.Node != "" {
		return np.Node == self.name, nil
	}
	if np.Selector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(np.Selector)
	if err != nil {
		return false, fmt.Errorf("selector: %w: %w", err, ErrInvalidSpec)
	}
	return sel.Matches(self.labels), nil
}

// unicastPeers are, for a unicast router, where this node sends its adverts (dst) and whom it
// takes adverts from (src), both sorted, of every other node the selector takes in. A node is
// sent to at the address it published in its status entry (status.nodes[].address: its address on
// the router's interface, which for IPv6 is not its link-local one and may not be its InternalIP),
// and at its InternalIPs of the router's family until it has published one. Its adverts are taken
// from either, so that a node that has just moved its address is still heard.
//
// Nodes in maintenance, excluded or cordoned stay peers: they still run the agent, and one coming
// back must hear the Master at once rather than wait for every other node to notice and add it,
// which would make it take over after Master_Down_Interval.
func unicastPeers(nodes []corev1.Node, self string, selector labels.Selector, ipv6 bool, status []vrrpv1.NodeStatus) (dst, src []netip.Addr) {
	published := make(map[string]netip.Addr, len(status))
	for _, e := range status {
		if ip, ok := peerAddress(e.Address, ipv6); ok {
			published[e.Node] = ip
		}
	}
	for i := range nodes {
		n := &nodes[i]
		if n.Name == self || !selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		var internal []netip.Addr
		for _, ip := range internalIPs(n) {
			if ip.Is6() == ipv6 {
				internal = append(internal, ip)
			}
		}
		src = append(src, internal...)
		if ip, ok := published[n.Name]; ok {
			dst, src = append(dst, ip), append(src, ip)
		} else {
			dst = append(dst, internal...)
		}
	}
	slices.SortFunc(dst, netip.Addr.Compare)
	slices.SortFunc(src, netip.Addr.Compare)
	return slices.Compact(dst), slices.Compact(src)
}

// peerAddress parses a published address; one of the other family, or that no advert can be sent
// to (the API server refuses those, a stored object may predate the rule), is none.
func peerAddress(s string, ipv6 bool) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if ip.Is6() != ipv6 || !ip.IsGlobalUnicast() {
		return netip.Addr{}, false
	}
	return ip, true
}

// Unlisted says whether the node of rank (see Router.Rank) among those spec selects writes a status
// entry only while MASTER: it comes after the first vrrpv1.MaxListedNodes. Unicast VirtualIPs list
// every node: each node's entry publishes the address its peers send their adverts to, and a
// router that sends each advert to every node is not one for hundreds of nodes anyway.
func Unlisted(spec *vrrpv1.VirtualIPSpec, rank int) bool {
	return rank >= vrrpv1.MaxListedNodes && !spec.Unicast
}

// rankOf is self's rank in a VirtualIP that self cannot run. A nodeSelector that does not parse
// selects no node, and every node reports the error: self ranks among all of them.
func rankOf(in Inputs, self nodeFacts, vip *vrrpv1.VirtualIP) int {
	selector, err := nodeSelector(&vip.Spec)
	if err != nil {
		selector = labels.Everything()
	}
	n, _ := rank(in.Nodes, self.name, selector)
	return n
}

// rank is how many of the nodes that selector selects sort before name, and the last of them.
func rank(nodes []corev1.Node, name string, selector labels.Selector) (n int, previous string) {
	for i := range nodes {
		if m := nodes[i].Name; m < name && selector.Matches(labels.Set(nodes[i].Labels)) {
			n++
			previous = max(previous, m)
		}
	}
	return n, previous
}

package desired

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// reservation is the wire identity that a VirtualIP this node cannot run still holds against
// newer ones: ok when it selects this node and its VRID, family and interface here are known, even
// though something else of it fails (its Secret missing, its hooks invalid). Otherwise a newer
// VirtualIP with that VRID would run while the older one is in error, and every node would stop it
// the moment the error clears: the older one was there first (issue 9 item 4). The controller
// reports the newer one as RouterIDConflict under the same rule (controllers.routerIDConflicts):
// both selectors parse, the node is selected, the first address gives the family.
func reservation(in Inputs, self nodeFacts, vip *vrrpv1.VirtualIP) (conflictKey, bool) {
	spec := &vip.Spec
	selector, err := nodeSelector(spec)
	if err != nil || !selector.Matches(self.labels) {
		return conflictKey{}, false
	}
	for _, np := range spec.NodePriorities {
		if np.Selector == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(np.Selector); err != nil {
			return conflictKey{}, false
		}
	}
	if spec.VirtualRouterID < 1 || spec.VirtualRouterID > 255 || len(spec.Addresses) == 0 {
		return conflictKey{}, false
	}
	first, err := ParseAddress(spec.Addresses[0])
	if err != nil {
		return conflictKey{}, false
	}
	iface, err := chooseInterface(spec.Interface, in.Interfaces, first.Addr())
	if err != nil {
		return conflictKey{}, false
	}
	return conflictKey{vrid: uint8(spec.VirtualRouterID), ipv6: first.Addr().Is6(), iface: iface}, true
}

package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Participants returns the selector of the nodes that take part in the router. An unset
// nodeSelector selects every node, unlike metav1.LabelSelectorAsSelector(nil), which selects none.
// The agent and the controller both decide participation with it, so they always agree.
func (s *VirtualIPSpec) Participants() (labels.Selector, error) {
	if s.NodeSelector == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(s.NodeSelector)
	if err != nil {
		return nil, fmt.Errorf("nodeSelector: %w", err)
	}
	return sel, nil
}

// maxLabelName is the longest name part of a label key (after the prefix and slash).
const maxLabelName = 63

// MasterLabel is the label key the agent sets to "true" on the Node that holds the VirtualIP name:
// vrrp.dev/master-<name>. A name too long for a label key is cut and suffixed with a hash of the
// whole name, so that keys stay distinct.
func MasterLabel(name string) string {
	const prefix = "master-"
	if len(prefix)+len(name) <= maxLabelName {
		return MasterLabelPrefix + name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := "-" + hex.EncodeToString(sum[:4])
	keep := maxLabelName - len(prefix) - len(suffix)
	return MasterLabelPrefix + name[:keep] + suffix
}

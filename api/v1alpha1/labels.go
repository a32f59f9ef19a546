package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
)

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

package controllers

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestAVirtualIPOfMoreNodesThanStatusListsCountsTheUnlistedAsBackups: beyond MaxListedNodes the
// agents of Backups leave status.nodes (agent/kube's maxListedNodes). The summary counts the
// selected nodes without an entry as Backups: a handover that removes the old Master's entry
// before the new one's lands is a NoMaster that VRRP settles, held like any other, and a
// VirtualIP without a Master says how many Backups it has.
func TestAVirtualIPOfMoreNodesThanStatusListsCountsTheUnlistedAsBackups(t *testing.T) {
	nodes := func(n int) map[string]labels.Set {
		out := map[string]labels.Set{}
		for i := range n {
			out[fmt.Sprintf("n%03d", i)] = labels.Set{}
		}
		return out
	}
	stored := func(v *vrrpv1.VirtualIP) {
		v.Status.Conditions = []metav1.Condition{cond("Ready", "True", "OneMaster", "node n000 is MASTER"), cond("Degraded", "False", "Healthy", "node n000 is MASTER")}
	}
	fault := entry("n007", "FAULT")
	for name, tc := range map[string]struct {
		vip          *vrrpv1.VirtualIP
		nodes        int
		wantReady    string
		wantMessage  string
		wantSettling bool
	}{
		"the Master's entry alone is Ready": {
			vip: vip("web", 51, "198.51.100.1/24", stored, withEntries(entry("n000", "MASTER"))), nodes: 500,
			wantReady: "OneMaster", wantMessage: "node n000 is MASTER",
		},
		"no entry during a handover is NoMaster among the unlisted Backups, held for VRRP's bound": {
			vip: vip("web", 51, "198.51.100.1/24", stored), nodes: 500,
			wantReady: "NoMaster", wantMessage: fmt.Sprintf("no node is MASTER: 500 more BACKUP (not listed beyond %d nodes)", MaxListedNodes), wantSettling: true,
		},
		"a FAULT entry and no Master counts the others as Backups": {
			vip: vip("web", 51, "198.51.100.1/24", stored, withEntries(fault)), nodes: 500,
			wantReady: "NoMaster", wantMessage: fmt.Sprintf("no node is MASTER: 499 more BACKUP (not listed beyond %d nodes), n007 FAULT", MaxListedNodes), wantSettling: true,
		},
		"up to MaxListedNodes, a VirtualIP without entries has no Backup to wait for": {
			vip: vip("web", 51, "198.51.100.1/24", stored), nodes: MaxListedNodes,
			wantReady: "NoMaster", wantMessage: "no agent has reported yet",
		},
		"a new VirtualIP of many nodes waits for its agents, as a small one does": {
			vip: vip("web", 51, "198.51.100.1/24"), nodes: 500,
			wantReady: "NoMaster", wantMessage: "no agent has reported yet",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := Summarize(tc.vip, nil, nodes(tc.nodes), nil, now)
			ready := got.Conditions[0]
			if ready.Reason != tc.wantReady || ready.Message != tc.wantMessage {
				t.Errorf("Ready %s %q, want %s %q", ready.Reason, ready.Message, tc.wantReady, tc.wantMessage)
			}
			if (got.Settling > 0) != tc.wantSettling {
				t.Errorf("Settling %v, want held: %v", got.Settling, tc.wantSettling)
			}
			if tc.wantSettling && got.Settling < 3*100*time.Millisecond {
				t.Errorf("Settling %v, want at least Master_Down_Interval", got.Settling)
			}
		})
	}
}

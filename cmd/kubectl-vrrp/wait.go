package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// errNotYet is a wait that ran out of time.
var errNotYet = errors.New("not converged")

// waitFor reads status every poll interval until cond holds, and returns how long it took since
// start. cond's error ends the wait; past timeout it returns errNotYet. Status changes come from
// agents on other machines through the API server: polling with a deadline is the honest way to
// wait, and needs no more permission than get.
func (a *app) waitFor(ctx context.Context, start time.Time, timeout time.Duration, cond func() (bool, error)) (time.Duration, error) {
	interval := a.pollInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	for {
		ok, err := cond()
		took := a.clock.Now().Sub(start)
		switch {
		case err != nil:
			return took, err
		case ok:
			return took, nil
		case took >= timeout:
			return took, errNotYet
		}
		select {
		case <-ctx.Done():
			return took, fmt.Errorf("interrupted after %s: %w", seconds(took), ctx.Err())
		case <-a.clock.After(interval):
		}
	}
}

// entryOf is node's entry in v's status, nil when it has none.
func entryOf(v *vrrpv1.VirtualIP, node string) *vrrpv1.NodeStatus {
	for i := range v.Status.Nodes {
		if v.Status.Nodes[i].Node == node {
			return &v.Status.Nodes[i]
		}
	}
	return nil
}

// live says an entry's node runs the router and could hold the VIP.
func live(e *vrrpv1.NodeStatus) bool {
	return e != nil && (e.State == vrrpv1.StateMaster || e.State == vrrpv1.StateBackup || e.State == vrrpv1.StateInit)
}

// expectedMaster is the node the agents' policy makes Master once every node has applied it: the
// one live participant with the highest effective priority. It is "" when that cannot be told: a
// tie (the primary addresses decide, RFC 9568 §6.4.3), preempt off (the Master keeps the VIP while
// it lives, §6.4.3), or no live participant.
func expectedMaster(v *vrrpv1.VirtualIP, nodes []corev1.Node) string {
	all, err := desired.ExplainAll(v, nodes)
	if err != nil || len(all) == 0 || !all[0].Preempt {
		return ""
	}
	var best []desired.Explanation
	for _, ex := range all {
		if !ex.Participates || ex.Released || !live(entryOf(v, ex.Node)) {
			continue
		}
		if len(best) > 0 && ex.Effective < best[0].Effective {
			break
		}
		best = append(best, ex)
	}
	if len(best) != 1 {
		return ""
	}
	return best[0].Node
}

// settled says v's status shows one Master, the expected one when it can be told.
func settled(v *vrrpv1.VirtualIP, nodes []corev1.Node) (bool, string) {
	master := v.Status.Master
	if master == "" {
		return false, "status shows no Master"
	}
	if e := entryOf(v, master); e == nil || e.State != vrrpv1.StateMaster {
		return false, fmt.Sprintf("status.master is %s, whose entry is not MASTER", master)
	}
	if want := expectedMaster(v, nodes); want != "" && want != master {
		return false, fmt.Sprintf("status.master is %s, the priorities make %s Master", master, want)
	}
	return true, ""
}

// annotate sets (value non-nil) or removes (nil) one annotation with a merge patch.
func annotate(ctx context.Context, c client.Client, obj client.Object, key string, value *string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}})
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
}

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

// errNotYet is a wait that ran out of time.
var errNotYet = errors.New("not converged")

// waitFor reads status every poll interval until cond holds, and returns how long it took since
// start. Status changes come from agents on other machines through the API server: polling with a
// deadline is the honest way to wait, and needs no more permission than get. The deadline is hard:
// cond gets a context that ends at start+timeout, so a hanging request ends there too. An error
// that may pass (the API server busy, restarting, unreachable) is retried until then; others end
// the wait. Past the deadline waitFor returns errNotYet, wrapping the last error if one was seen.
func (a *app) waitFor(ctx context.Context, start time.Time, timeout time.Duration, cond func(context.Context) (bool, error)) (time.Duration, error) {
	interval := a.pollInterval
	if interval <= 0 {
		interval = defaultPollInterval
	}
	withTimeout := a.withTimeout
	if withTimeout == nil {
		withTimeout = context.WithTimeout
	}
	wctx, cancel := withTimeout(ctx, timeout-a.clock.Now().Sub(start))
	defer cancel()
	var last error
	for {
		ok, err := cond(wctx)
		took := a.clock.Now().Sub(start)
		switch {
		case ctx.Err() != nil:
			return took, fmt.Errorf("interrupted after %s: %w", seconds(took), ctx.Err())
		case err != nil && wctx.Err() == nil && !transient(err):
			return took, err
		case err == nil && ok:
			return took, nil
		case wctx.Err() != nil || took >= timeout:
			if last != nil || err != nil {
				return took, fmt.Errorf("%w: the last request failed: %w", errNotYet, cmp.Or(err, last))
			}
			return took, errNotYet
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return took, fmt.Errorf("interrupted after %s: %w", seconds(took), ctx.Err())
		case <-wctx.Done():
		case <-a.clock.After(interval):
		}
	}
}

// transient says a request may succeed if tried again: the API server is busy, restarting or
// briefly unreachable, or the request ran out of time, or would have waited for the client's rate
// limiter past the deadline (client-go says so in words, wrapping no error).
func transient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) ||
		utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		errors.Is(err, context.DeadlineExceeded) || isNetError(err) ||
		strings.Contains(err.Error(), "client rate limiter Wait returned an error")
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
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

// running says an entry shows its agent running the router.
func running(e *vrrpv1.NodeStatus) bool {
	return e != nil && (e.State == vrrpv1.StateMaster || e.State == vrrpv1.StateBackup || e.State == vrrpv1.StateInit)
}

// live says an entry's node runs the router and could hold the VIP: its entry says so and the node
// has not gone dark. As the controller does, an entry of a node whose Ready condition is Unknown, or
// on which no agent pod runs, does not count: it says only what the agent last reported.
func live(e *vrrpv1.NodeStatus, nodes nodeSet) bool {
	return running(e) && darkNote(e.Node, nodes) == ""
}

// liveAs is live for e, the entry (nil: none) of the node ex explains. A node after the first
// vrrpv1.MaxListedNodes (ex.Unlisted) writes no entry while BACKUP: without one it counts as a live
// BACKUP unless the policy releases it or Kubernetes has lost touch with it.
func liveAs(e *vrrpv1.NodeStatus, ex desired.Explanation, nodes nodeSet) bool {
	if e == nil && ex.Participates && ex.Unlisted && !ex.Released {
		return darkNote(ex.Node, nodes) == ""
	}
	return live(e, nodes)
}

// unlistedEntry is the entry an unlisted node's silence stands for: BACKUP at its effective
// priority, or STOPPED when the policy releases it.
func unlistedEntry(ex desired.Explanation) *vrrpv1.NodeStatus {
	e := &vrrpv1.NodeStatus{Node: ex.Node, State: vrrpv1.StateBackup, Priority: int32(ex.Effective), Reason: ex.Reason}
	if ex.Released {
		e.State = vrrpv1.StateStopped
	}
	return e
}

// darkNote says in a few words why node has gone dark (dark.Nodes): Kubernetes has lost touch with
// it, or no agent pod runs on it. It is "" while the node has not.
func darkNote(node string, nodes nodeSet) string {
	switch nodes.dark[node] {
	case dark.NodeUnreachable:
		return "node not Ready: status Unknown"
	case dark.AgentGone:
		return "no agent pod runs there"
	}
	// The controller keeps such an entry while an agent pod still runs there (dark.NodeGone).
	if nodes.items != nil && !containsNode(nodes, node) {
		return "no Node object: the node left the cluster"
	}
	return ""
}

// darkError is darkNote as the error of a command refused, nil while the node has not gone dark.
func darkError(node string, nodes nodeSet) error {
	switch nodes.dark[node] {
	case dark.NodeUnreachable:
		return fmt.Errorf("node %s is not Ready (status Unknown): Kubernetes has lost touch with it, and likely with its agent", node)
	case dark.AgentGone:
		return fmt.Errorf("no agent pod runs on node %s: its entries say only what its agent last reported", node)
	}
	if why := darkNote(node, nodes); why != "" {
		return fmt.Errorf("node %s: %s: its entries say only what its agent last reported", node, why)
	}
	return nil
}

// lastFailure is, for a wait that ran out of time, the request error it saw last, as " (...)".
func lastFailure(err error) string {
	if !errors.Is(err, errNotYet) || err == errNotYet {
		return ""
	}
	return " (" + strings.TrimPrefix(err.Error(), errNotYet.Error()+": ") + ")"
}

// expectedMaster is the node the agents' policy makes Master once every node has applied it: the
// one live participant with the highest effective priority. It is "" when that cannot be told: a
// tie (the primary addresses decide, RFC 9568 §6.4.3), preempt off (the Master keeps the VIP while
// it lives, §6.4.3), or no live participant. An unlisted node without an entry (after the first
// vrrpv1.MaxListedNodes, which write one only while MASTER) counts as live only when it is
// assume, the node the command waits for: another may be one that cannot run the router, which
// only its Events tell, and the wait would never end.
func expectedMaster(v *vrrpv1.VirtualIP, nodes nodeSet, assume string) string {
	all, err := desired.ExplainAll(v, nodes.items)
	if err != nil || len(all) == 0 || !all[0].Preempt {
		return ""
	}
	type candidate struct {
		node     string
		priority uint8
	}
	var cands []candidate
	for _, ex := range all {
		e := entryOf(v, ex.Node)
		if !ex.Participates || ex.Released || !(live(e, nodes) || (ex.Node == assume && liveAs(e, ex, nodes))) {
			continue
		}
		cands = append(cands, candidate{ex.Node, reported(ex, e, nodes)})
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(b.priority, a.priority) })
	if len(cands) == 0 || (len(cands) > 1 && cands[1].priority == cands[0].priority) {
		return ""
	}
	return cands[0].node
}

// reported is the priority the node ex explains stands at: its entry's, which its checks
// (spec.track) weigh, when the entry is live and current (see current); else, for an entry from
// before the change a command made, or none, the priority the spec and the node's policy give it.
func reported(ex desired.Explanation, e *vrrpv1.NodeStatus, nodes nodeSet) uint8 {
	if e != nil && live(e, nodes) && e.State != vrrpv1.StateInit && current(ex, e) {
		return uint8(min(max(e.Priority, 0), 255))
	}
	return ex.Effective
}

// current says entry e says what ex says of its node: the policy's reason, or, for a node the
// policy gives none, CheckWeight, which the agent writes when checks moved its priority
// (desired.Track).
func current(ex desired.Explanation, e *vrrpv1.NodeStatus) bool {
	return e.Reason == ex.Reason || (ex.Reason == "" && e.Reason == desired.ReasonCheckWeight)
}

// settled says v's status shows one Master, the expected one when it can be told.
func settled(v *vrrpv1.VirtualIP, nodes nodeSet, assume string) (bool, string) {
	master := v.Status.Master
	if master == "" {
		return false, "status shows no Master"
	}
	if e := entryOf(v, master); e == nil || e.State != vrrpv1.StateMaster {
		return false, fmt.Sprintf("status.master is %s, whose entry is not MASTER", master)
	}
	if want := expectedMaster(v, nodes, assume); want != "" && want != master {
		detail := fmt.Sprintf("status.master is %s, the priorities make %s Master", master, want)
		if entryOf(v, want) == nil {
			detail += fmt.Sprintf(" (%s has no entry: after the first %d nodes it writes one once MASTER, unless it cannot run the router: see its Events)", want, vrrpv1.MaxListedNodes)
		}
		return false, detail
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

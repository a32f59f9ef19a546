package controllers

import (
	"sync"
	"time"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// handovers remembers, per VirtualIP, since when the controller has seen it unsettled (no Master or
// several, Summary.Settling > 0), so that a handover, which passes through such a state for less
// than the protocol's own bound, is neither written nor announced (issue 9 item 8). The memory is
// the controller's alone: a new leader starts afresh, which at worst delays an alarm by one bound.
type handovers struct {
	mu   sync.Mutex
	seen map[string]unsettled
}

type unsettled struct {
	reason string // Ready's reason: NoMaster or SplitBrain
	since  time.Time
}

// hold returns how much longer the summary of the VirtualIP name must wait before it is written:
// zero when it is settled or has been unsettled, in the same way, for longer than its Settling plus
// latency. Each way of being unsettled has its own bound, so a change from one to the other starts
// the wait again.
func (h *handovers) hold(name string, sum Summary, now time.Time, latency time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sum.Settling <= 0 {
		delete(h.seen, name)
		return 0
	}
	reason := readyReason(sum)
	u, ok := h.seen[name]
	if !ok || u.reason != reason {
		u = unsettled{reason: reason, since: now}
		if h.seen == nil {
			h.seen = map[string]unsettled{}
		}
		h.seen[name] = u
	}
	return max(u.since.Add(sum.Settling+latency).Sub(now), 0)
}

// forget drops what is remembered of a VirtualIP that is gone.
func (h *handovers) forget(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.seen, name)
}

func readyReason(sum Summary) string {
	for _, c := range sum.Conditions {
		if c.Type == vrrpv1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}

package speaker

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// Memory goes back to the system once the routers' statuses have been quiet for releaseAfter, once
// per quiet spell: after the start of 250 routers, or a failover, their stacks and garbage stay
// behind otherwise, for an agent that hardly allocates collects every two minutes only.
func TestMemoryIsReleasedOnceStatusesAreQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var released atomic.Int32
		old := releaseMemory
		releaseMemory = func() { released.Add(1) }
		t.Cleanup(func() { releaseMemory = old })

		s := New(Options{Node: "n1"})
		s.setStatus(Status{Router: "vip-0", State: vrrp.StateBackup})
		time.Sleep(releaseAfter - time.Second)
		s.setStatus(Status{Router: "vip-0", State: vrrp.StateMaster}) // not quiet yet
		time.Sleep(releaseAfter - time.Nanosecond)
		synctest.Wait()
		if n := released.Load(); n != 0 {
			t.Fatalf("released %d times while statuses changed", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := released.Load(); n != 1 {
			t.Fatalf("released %d times after a quiet spell, want once", n)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := released.Load(); n != 1 {
			t.Errorf("released %d times in a quiet hour, want still once", n)
		}
		s.setStatus(Status{Router: "vip-0", State: vrrp.StateMaster})
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.setStatus(Status{Router: "vip-0", State: vrrp.StateStopped}) // a router's last words
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := released.Load(); n != 1 {
			t.Errorf("released %d times after Shutdown, want none more than the once before", n)
		}
	})
}

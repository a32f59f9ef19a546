package host

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"

	"github.com/vrrp-dev/vrrp-operator/agent/netif"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
)

// Review of issue 12: a watch that cannot start (netlink refused a socket) is started again, so
// that the routers on the interface run once it can be followed instead of staying FAULT until the
// agent restarts.
func TestAWatchThatCannotStartIsTriedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var starts []time.Duration
		var got []speaker.LinkStatus
		begin := time.Now()
		n := &Network{Log: logr.Discard(),
			watch: func(ctx context.Context, _ string, _ bool, _ func(netip.Addr) bool, _ uint32, onChange func(netif.Status)) error {
				mu.Lock()
				starts = append(starts, time.Since(begin))
				failing := len(starts) <= 3
				mu.Unlock()
				if failing {
					return errors.New("opening netlink: too many open files")
				}
				onChange(netif.Status{Up: true})
				<-ctx.Done()
				return nil
			}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Watch(ctx, "eth0", false, func(st speaker.LinkStatus) {
				mu.Lock()
				got = append(got, st)
				mu.Unlock()
			})
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done

		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
		if len(starts) != len(want) {
			t.Fatalf("the watch started at %v, want at %v", starts, want)
		}
		for i := range want {
			if starts[i] != want[i] {
				t.Errorf("start %d at %v, want %v", i, starts[i], want[i])
			}
		}
		if len(got) != 4 || got[0].Up || got[0].Reason != "watching eth0: opening netlink: too many open files" || !got[3].Up {
			t.Errorf("reported %+v, want the link down with why three times, then up", got)
		}
	})
}

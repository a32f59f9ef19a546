package kube

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
	"github.com/vrrp-dev/vrrp-operator/agent/speaker"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// TestAHandoverOfManyVirtualIPsWritesTheirEntriesTogether: a node that hands over ten VirtualIPs at
// once has ten entries to write, one request each. Written one after the other, the last waited
// for nine round trips to the API server (seconds under load); they go out together, the label
// beside them, and a write that fails is retried alone.
func TestAHandoverOfManyVirtualIPsWritesTheirEntriesTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const routers = 10
		var (
			mu       sync.Mutex
			inFlight int
			most     int
			written  []string
			refused  bool
			all      = make(chan struct{})
		)
		// Each write waits until every entry's write has started, or a second (fake time) passes.
		write := func(name string) error {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			if inFlight == routers {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(time.Second):
			}
			mu.Lock()
			defer mu.Unlock()
			inFlight--
			written = append(written, name)
			if name == "vip-3" && !refused {
				refused = true
				return fmt.Errorf("the API server is busy")
			}
			return nil
		}
		rep := reporterWritingTo(t, func(_ context.Context, name string) error {
			return write(name)
		}, nil)
		var res desired.Result
		for i := range routers {
			res.Routers = append(res.Routers, desired.Router{Name: fmt.Sprintf("vip-%d", i)})
		}
		rep.participate(res)
		for i := range routers {
			rep.observe(speaker.Status{Router: fmt.Sprintf("vip-%d", i), State: vrrp.StateMaster, Priority: 150})
		}
		start := time.Now()
		if rep.flush(context.Background()) {
			t.Fatal("flush reported success with a failed write")
		}
		if took := time.Since(start); took >= time.Second {
			t.Errorf("ten entries took %v to write, want them in one round trip", took)
		}
		if most != routers {
			t.Errorf("at most %d writes were in flight, want all %d", most, routers)
		}
		// The failed entry alone is due again.
		written = nil
		if !rep.flush(context.Background()) {
			t.Fatal("the retry failed")
		}
		if !slices.Equal(written, []string{"vip-3"}) {
			t.Errorf("the retry wrote %v, want only vip-3", written)
		}
	})
}

// TestATransitionDoesNotWaitForAnotherEntrysWrite: the write of one entry that hangs (an API server
// slow to answer that object) must not hold back the next transition of another VirtualIP, and an
// entry that changes while its own write is in flight is written once more after it, never twice
// at once.
func TestATransitionDoesNotWaitForAnotherEntrysWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			started  []string
			inFlight = map[string]int{}
			twice    bool
			release  = make(chan struct{})
			unblock  = sync.OnceFunc(func() { close(release) })
		)
		defer unblock() // a failure must not leave the write hanging
		rep := reporterWritingTo(t, func(_ context.Context, name string) error {
			mu.Lock()
			started = append(started, name)
			inFlight[name]++
			twice = twice || inFlight[name] > 1
			first := len(started) == 1
			mu.Unlock()
			if first {
				<-release // the first write of vip-0 hangs until released
			}
			mu.Lock()
			inFlight[name]--
			mu.Unlock()
			return nil
		}, nil)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0"}, {Name: "vip-1"}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = rep.Start(ctx) }()
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateBackup, Priority: 100})
		synctest.Wait()
		rep.observe(speaker.Status{Router: "vip-1", State: vrrp.StateMaster, Priority: 150})
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 150})
		time.Sleep(takeoverSettle)
		synctest.Wait()
		mu.Lock()
		got := slices.Clone(started)
		mu.Unlock()
		if !slices.Equal(got, []string{"vip-0", "vip-1"}) {
			t.Fatalf("with vip-0's write hanging, the writes started were %v; want vip-1's beside it, and vip-0's new state after the first", got)
		}
		unblock()
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(started, []string{"vip-0", "vip-1", "vip-0"}) || twice {
			t.Fatalf("writes %v (an entry written twice at once: %v); want vip-0's new state written once its first write ended", started, twice)
		}
	})
}

// TestFailedWritesBackOff: while the API server refuses every write, the reporter retries with a
// backoff that doubles up to maxBackoff, not in a loop; when it answers again the entry lands at
// the next retry.
func TestFailedWritesBackOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			attempts []time.Duration
			down     = true
			start    = time.Now()
		)
		rep := reporterWritingTo(t, func(_ context.Context, _ string) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Since(start))
			if down {
				return fmt.Errorf("connection refused")
			}
			return nil
		}, nil)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-0"}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = rep.Start(ctx) }()
		rep.observe(speaker.Status{Router: "vip-0", State: vrrp.StateMaster, Priority: 150})
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		n := len(attempts)
		down = false
		mu.Unlock()
		// 0, 0.1, 0.3, 0.7, 1.5, 3.1 (and then every 2 s): 9 attempts in 10 s, each wait
		// jittered by up to half.
		if n < 5 || n > 15 {
			t.Fatalf("%d attempts in 10 s while the API server refused them (%v); want a backoff from %v to %v", n, attempts, minBackoff, maxBackoff)
		}
		time.Sleep(maxBackoff * 3 / 2)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) != n+1 {
			t.Fatalf("after the API server answered again: %d more attempts, want the one that lands", len(attempts)-n)
		}
		rep.mu.Lock()
		defer rep.mu.Unlock()
		if len(rep.dirty) != 0 || rep.backoff != 0 {
			t.Fatalf("after the write landed: dirty %v, backoff %v; want nothing due", rep.dirty, rep.backoff)
		}
	})
}

// TestAFailedWriteDoesNotAbandonTheRestOfAFlush: at shutdown a node writes the last words of every
// router and its label in one flush. A write that fails must not stop the others, however many
// entries there are beyond maxWrites, and the label goes out first.
func TestAFailedWriteDoesNotAbandonTheRestOfAFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const routers = 3*maxWrites + 5
		var (
			mu       sync.Mutex
			written  []string
			labelled int
			refused  bool
		)
		rep := reporterWritingTo(t, func(_ context.Context, name string) error {
			time.Sleep(10 * time.Millisecond) // a round trip
			mu.Lock()
			defer mu.Unlock()
			written = append(written, name)
			if name == "vip-03" && !refused {
				refused = true
				return fmt.Errorf("too many requests")
			}
			return nil
		}, func() error {
			mu.Lock()
			defer mu.Unlock()
			labelled = len(written) + 1
			return nil
		})
		var res desired.Result
		for i := range routers {
			res.Routers = append(res.Routers, desired.Router{Name: fmt.Sprintf("vip-%02d", i)})
		}
		rep.participate(res)
		for i := range routers {
			rep.observe(speaker.Status{Router: fmt.Sprintf("vip-%02d", i), State: vrrp.StateStopped})
		}
		if rep.flush(context.Background()) {
			t.Fatal("flush reported success with a failed write")
		}
		mu.Lock()
		got := len(written)
		first := labelled
		mu.Unlock()
		if got != routers || first != 1 {
			t.Fatalf("%d of %d entries written, the label as write %d; want every entry written once, the label first", got, routers, first)
		}
		written = nil
		if !rep.flush(context.Background()) {
			t.Fatal("the retry failed")
		}
		if !slices.Equal(written, []string{"vip-03"}) {
			t.Errorf("the retry wrote %v, want only vip-03", written)
		}
	})
}

// Retries are spread, so that agents whose writes failed together do not retry together.
func TestRetriesAreJittered(t *testing.T) {
	const d = time.Second
	seen := map[time.Duration]bool{}
	for range 100 {
		j := jitter(d)
		if j < d/2 || j >= 3*d/2 {
			t.Fatalf("jitter(%v) = %v, want within [%v, %v)", d, j, d/2, 3*d/2)
		}
		seen[j] = true
	}
	if len(seen) < 50 {
		t.Fatalf("100 jittered waits took %d values, want them spread", len(seen))
	}
}

// TestAWriteCutShortByShutdownIsWrittenByTheFlush: at shutdown the manager's context ends while
// Start's write of an entry is in flight, and the router's last words (STOPPED) follow. The write
// cut short failed nothing: the flush that goodbye runs must write the entry, not wait out a
// backoff it does not have.
func TestAWriteCutShortByShutdownIsWrittenByTheFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu      sync.Mutex
			written []string
		)
		rep := reporterWritingTo(t, func(ctx context.Context, name string) error {
			select {
			case <-ctx.Done():
				time.Sleep(time.Millisecond) // the cancelled request unwinds
				return ctx.Err()
			case <-time.After(50 * time.Millisecond): // a round trip
			}
			mu.Lock()
			defer mu.Unlock()
			written = append(written, name)
			return nil
		}, nil)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "vip-a"}}})
		mgr, stopManager := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { _ = rep.Start(mgr); close(stopped) }()
		rep.observe(speaker.Status{Router: "vip-a", State: vrrp.StateBackup})
		time.Sleep(10 * time.Millisecond) // Start's write is in flight
		stopManager()
		<-stopped
		rep.observe(speaker.Status{Router: "vip-a", State: vrrp.StateStopped}) // Leave
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if !rep.flush(ctx) {
			t.Error("the flush did not write the last words")
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(written, []string{"vip-a"}) {
			t.Errorf("written %v, want vip-a's last words", written)
		}
	})
}

// TestARefusedEntryBacksOffBesideWritesThatLand: the API server refuses one VirtualIP's entry for
// good (an admission policy) while another's changes keep landing. The refused write backs off
// as if alone, instead of starting from minBackoff after each write that lands.
func TestARefusedEntryBacksOffBesideWritesThatLand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu       sync.Mutex
			attempts int
		)
		rep := reporterWritingTo(t, func(_ context.Context, name string) error {
			if name != "refused" {
				return nil
			}
			mu.Lock()
			defer mu.Unlock()
			attempts++
			return fmt.Errorf("denied by the admission policy")
		}, nil)
		rep.participate(desired.Result{Routers: []desired.Router{{Name: "refused"}, {Name: "landing"}}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = rep.Start(ctx) }()
		rep.observe(speaker.Status{Router: "refused", State: vrrp.StateBackup})
		for i := range 100 { // the other entry changes every 100 ms for 10 s
			rep.observe(speaker.Status{Router: "landing", State: vrrp.StateBackup, Priority: uint8(i + 1)})
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		// Alone: 0, 0.1, 0.3, 0.7, 1.5, 3.1 and then every 2 s, each jittered: about 9 in 10 s.
		if attempts > 15 {
			t.Errorf("the refused entry was tried %d times in 10 s, want a backoff to %v", attempts, maxBackoff)
		}
	})
}

// reporterWritingTo is a reporter of node primary whose status writes are entry(VirtualIP name)
// and whose label writes are label (nil: they land).
func reporterWritingTo(t *testing.T, entry func(ctx context.Context, name string) error, label func() error) *reporter {
	t.Helper()
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	if label == nil {
		label = func() error { return nil }
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
			return label()
		},
		SubResourcePatch: func(ctx context.Context, _ client.Client, _ string, obj client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
			return entry(ctx, obj.GetName())
		},
	}).Build()
	rep := newReporter("primary", logr.Discard())
	rep.connect(c, nil, metrics.New(nil))
	return rep
}

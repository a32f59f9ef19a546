package track

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/labels"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeSource stands for a PodSource or Links: the test reports what it watches.
type fakeSource struct {
	mu      sync.Mutex
	watches map[string]*fakeWatch // the latest watch of each key
	started chan string
}

type fakeWatch struct {
	mu        sync.Mutex
	on        func(bool, string)
	cancelled bool
}

func newFakeSource() *fakeSource {
	return &fakeSource{watches: map[string]*fakeWatch{}, started: make(chan string, 100)}
}

func (f *fakeSource) watch(key string, on func(bool, string)) func() {
	w := &fakeWatch{on: on}
	f.mu.Lock()
	f.watches[key] = w
	f.mu.Unlock()
	f.started <- key
	return func() {
		w.mu.Lock()
		w.cancelled = true
		w.mu.Unlock()
	}
}

// waitWatch returns the latest watch of key once one has been started.
func (f *fakeSource) waitWatch(t *testing.T, key string) *fakeWatch {
	t.Helper()
	timeout := time.After(bound)
	for {
		f.mu.Lock()
		w := f.watches[key]
		f.mu.Unlock()
		if w != nil {
			return w
		}
		select {
		case <-f.started:
		case <-timeout:
			t.Fatalf("no watch of %s within %s", key, bound)
		}
	}
}

// report sends an answer as the source would, unless the watch was cancelled.
func (w *fakeWatch) report(ok bool, detail string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.cancelled {
		w.on(ok, detail)
	}
}

func (w *fakeWatch) isCancelled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancelled
}

type fakePods struct{ *fakeSource }

func (p fakePods) Watch(ns string, sel labels.Selector, on func(bool, string)) func() {
	return p.watch(ns+"/"+sel.String(), on)
}

type fakeLinks struct{ *fakeSource }

func (l fakeLinks) Watch(ifname string, on func(bool, string)) func() { return l.watch(ifname, on) }

func TestAPodsCheckFollowsReadyPodsOnTheNode(t *testing.T) {
	h := newHarness(t, Options{})
	sel := labels.SelectorFromSet(labels.Set{"app": "ingress-nginx"})
	k := Key{Router: "web", Check: "ingress"}
	h.m.Sync(map[string][]Check{"web": {{Name: "ingress", Kind: KindPods, Namespace: "ingress", Selector: sel}}})
	w := h.pods.waitWatch(t, "ingress/app=ingress-nginx")
	if got := h.m.Results()[k]; got.State != Unknown {
		t.Fatalf("before the first answer the check is %v, want Unknown", got.State)
	}

	steps := []struct {
		after  time.Duration
		ready  bool
		detail string
		want   Result
	}{
		{0, true, "pod ingress/nginx-1 is ready", Result{State: Passing, Since: t0, Message: "pod ingress/nginx-1 is ready"}},
		{time.Second, true, "pod ingress/nginx-2 is ready", Result{State: Passing, Since: t0, Message: "pod ingress/nginx-1 is ready"}},
		{time.Second, false, "no ready pod matches", Result{State: Failing, Since: t0.Add(2 * time.Second), Message: "no ready pod matches"}},
		{time.Second, true, "pod ingress/nginx-3 is ready", Result{State: Passing, Since: t0.Add(3 * time.Second), Message: "pod ingress/nginx-3 is ready"}},
	}
	for i, s := range steps {
		h.step(s.after)
		w.report(s.ready, s.detail)
		if diff := cmp.Diff(s.want, h.m.Results()[k]); diff != "" {
			t.Errorf("after answer %d (-want +got):\n%s", i, diff)
		}
	}

	h.m.Sync(nil)
	h.m.Close()
	if !w.isCancelled() {
		t.Error("the watch of a removed check was not cancelled")
	}
}

func TestWithoutAPodSourceAPodsCheckFails(t *testing.T) {
	changed := make(chan struct{}, 1)
	m := NewManager(Options{Clock: testingclock.NewFakeClock(t0), Links: fakeLinks{newFakeSource()}, Log: testr.New(t),
		OnChange: func() { changed <- struct{}{} }})
	defer m.Close()
	k := Key{Router: "web", Check: "vpn"}
	m.Sync(map[string][]Check{"web": {{Name: "vpn", Kind: KindPods, Namespace: "vpn", Selector: labels.Everything()}}})
	select {
	case <-changed:
	case <-time.After(bound):
		t.Fatal("no result within bound")
	}
	want := Result{State: Failing, Since: t0, Message: "pods checks need the agent in cluster mode"}
	if diff := cmp.Diff(want, m.Results()[k]); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestAnInterfaceCheckFollowsTheLink(t *testing.T) {
	h := newHarness(t, Options{})
	k := Key{Router: "web", Check: "uplink"}
	h.m.Sync(map[string][]Check{"web": {{Name: "uplink", Kind: KindInterface, Interface: "eth1", Weight: -20}}})
	w := h.links.waitWatch(t, "eth1")

	w.report(true, "link eth1 is up")
	h.step(time.Minute)
	w.report(false, "link eth1 has no carrier (down)")
	want := Result{State: Failing, Since: t0.Add(time.Minute), Message: "link eth1 has no carrier (down)"}
	if diff := cmp.Diff(want, h.m.Results()[k]); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestSyncRestartsChangedChecksAndStopsRemovedOnes(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "echo fine")
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeFile(t, one, "1")
	writeFile(t, two, "2")
	h := newHarness(t, Options{HookDir: dir})
	exec := Check{Name: "exec", Kind: KindExec, Command: []string{"ok.sh"}, Interval: time.Hour, Timeout: bound}
	file := Check{Name: "file", Kind: KindFile, Path: one, Weight: 1, Interval: time.Hour}
	pods := Check{Name: "pods", Kind: KindPods, Namespace: "web", Selector: labels.Everything()}
	gone := Check{Name: "client", Kind: KindPods, Namespace: "vpn", Selector: labels.Everything()}
	h.m.Sync(map[string][]Check{"web": {exec, file, pods}, "vpn": {gone}})
	h.next(Key{Router: "web", Check: "exec"})
	h.next(Key{Router: "web", Check: "file"})
	oldPods := h.pods.waitWatch(t, "web/")
	oldPods.report(true, "pod web/nginx is ready")
	oldGone := h.pods.waitWatch(t, "vpn/")
	oldGone.report(true, "pod vpn/client is ready")
	before := h.m.Results()

	h.step(time.Minute)
	file.Path, pods.Namespace = two, "ingress"
	h.m.Sync(map[string][]Check{"web": {exec, file, pods}})

	got := h.m.Results()
	if diff := cmp.Diff(before[Key{Router: "web", Check: "exec"}], got[Key{Router: "web", Check: "exec"}]); diff != "" {
		t.Errorf("an unchanged check changed its result (-want +got):\n%s", diff)
	}
	if r := got[Key{Router: "web", Check: "pods"}]; r != before[Key{Router: "web", Check: "pods"}] {
		t.Errorf("a changed check right after Sync: %+v, want its last result %+v until its new runs say otherwise", r, before[Key{Router: "web", Check: "pods"}])
	}
	if r, ok := got[Key{Router: "vpn", Check: "client"}]; ok {
		t.Errorf("a removed check is still there: %+v", r)
	}
	if r := h.next(Key{Router: "web", Check: "file"}); r.State != Passing || r.Value != 2 || r.Since != before[Key{Router: "web", Check: "file"}].Since {
		t.Errorf("the changed file check's first run: %+v, want still Passing since before, with the new file's 2", r)
	}
	newPods := h.pods.waitWatch(t, "ingress/")
	newPods.report(false, "no ready pod")
	oldPods.report(true, "a late answer to the old watch")
	oldGone.report(true, "a late answer for a removed check")
	want := Result{State: Failing, Since: t0.Add(time.Minute), Message: "no ready pod"}
	if diff := cmp.Diff(want, h.m.Results()[Key{Router: "web", Check: "pods"}]); diff != "" {
		t.Errorf("the changed pods check follows its new watch only (-want +got):\n%s", diff)
	}
	if _, ok := h.m.Results()[Key{Router: "vpn", Check: "client"}]; ok {
		t.Error("an answer for a removed check brought it back")
	}
	// Passing series: exec and the new file check; the changed pods check's old 1 and the
	// removed check's are forgotten.
	if n := testutil.CollectAndCount(h.metrics.TrackPassing); n != 3 {
		t.Errorf("%d series of the passing gauge, want 3 (exec, file, the new pods check)", n)
	}
	if n := value(h.metrics.TrackPassing.WithLabelValues("web", "pods")); n != 0 {
		t.Errorf("the changed pods check's gauge is %v, want 0 from its new watch", n)
	}
	if n := value(h.metrics.TrackRuns.WithLabelValues("web", "exec", "passed")); n != 1 {
		t.Errorf("the unchanged exec check ran %v times, want once: Sync must not restart it", n)
	}
	h.m.Close()
	if !oldPods.isCancelled() || !oldGone.isCancelled() {
		t.Error("the watches of the changed and the removed check were not cancelled")
	}
}

// startedChild runs a check whose script starts a child that hangs, and returns the child's pid
// once the script has told it through a FIFO.
func startedChild(t *testing.T, h *harness, dir, fifo string, k Key) int {
	t.Helper()
	writeScript(t, dir, "hang.sh", "sleep 1000 &\necho $! > "+fifo+"\nwait")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read-write, so that neither side blocks on open.
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	h.m.Sync(map[string][]Check{k.Router: {{Name: k.Check, Kind: KindExec, Command: []string{"hang.sh"}, Interval: time.Hour, Timeout: time.Hour}}})
	if err := f.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		t.Fatalf("the check did not start: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestStoppingACheckKillsItsRun(t *testing.T) {
	tests := map[string]func(m *Manager){
		"Close kills a running check and waits for it": func(m *Manager) { m.Close() },
		"Sync kills the run of a check it removes":     func(m *Manager) { m.Sync(nil) },
		"Sync kills the run of a check it starts over": func(m *Manager) {
			m.Sync(map[string][]Check{"vpn": {{Name: "tunnel", Kind: KindExec, Command: []string{"hang.sh"}, Interval: time.Hour, Timeout: time.Minute}}})
		},
	}
	for name, stop := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, Options{HookDir: dir})
			k := Key{Router: "vpn", Check: "tunnel"}
			pid := startedChild(t, h, dir, filepath.Join(t.TempDir(), "fifo"), k)

			start := time.Now()
			stop(h.m)
			if took := time.Since(start); took > time.Second {
				t.Errorf("stopping took %s", took)
			}
			if !gone(pid) {
				t.Error("the child of the stopped run lives on")
			}
			if got := h.m.Results()[k]; got.State != Unknown {
				t.Errorf("the stopped run recorded %+v", got)
			}
		})
	}
}

func TestCloseEndsEveryGoroutine(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "ok.sh", "true")
	h := newHarness(t, Options{HookDir: dir})
	h.m.Sync(map[string][]Check{"web": {
		{Name: "exec", Kind: KindExec, Command: []string{"ok.sh"}, Interval: time.Hour, Timeout: bound},
		{Name: "pods", Kind: KindPods, Namespace: "web", Selector: labels.Everything()},
		{Name: "link", Kind: KindInterface, Interface: "eth1"},
		{Name: "odd", Kind: "smoke-signal"},
	}})
	h.next(Key{Router: "web", Check: "exec"})
	if got := h.m.Results()[Key{Router: "web", Check: "odd"}]; got.State != Failing && got.State != Unknown {
		t.Errorf("a check of an unknown kind: %+v", got)
	}

	done := make(chan struct{})
	go func() {
		h.m.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("Close did not return")
	}
	// Close returned, so wg is zero: no check goroutine is left. Sync after Close starts nothing.
	h.m.Sync(map[string][]Check{"web": {{Name: "late", Kind: KindPods, Namespace: "web", Selector: labels.Everything()}}})
	if _, ok := h.m.Results()[Key{Router: "web", Check: "late"}]; ok {
		t.Error("Sync after Close started a check")
	}
}

func TestASlowOnChangeNeverStallsTheChecksAndIsCoalesced(t *testing.T) {
	var calls int
	var mu sync.Mutex
	entered, release := make(chan struct{}, 10), make(chan struct{})
	h := newHarness(t, Options{OnChange: func() {
		mu.Lock()
		calls++
		mu.Unlock()
		entered <- struct{}{}
		<-release
	}})
	h.m.Sync(map[string][]Check{"web": {{Name: "pods", Kind: KindPods, Namespace: "web", Selector: labels.Everything()}}})
	w := h.pods.waitWatch(t, "web/")

	w.report(true, "ready")
	<-entered
	// OnChange is blocked; these must still be recorded at once.
	for i := range 10 {
		w.report(i%2 == 0, "flap "+strconv.Itoa(i))
	}
	if got := h.m.Results()[Key{Router: "web", Check: "pods"}]; got.State != Failing || got.Message != "flap 9" {
		t.Errorf("while OnChange blocks: %+v, want the last answer recorded", got)
	}
	release <- struct{}{}
	<-entered // one call for all ten changes
	close(release)
	h.m.Close()
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("OnChange called %d times, want 2: the first change, then one for the ten while it ran", calls)
	}
}

func TestResultsIsACopy(t *testing.T) {
	h := newHarness(t, Options{})
	h.m.Sync(map[string][]Check{"web": {{Name: "pods", Kind: KindPods, Namespace: "web", Selector: labels.Everything()}}})
	r := h.m.Results()
	r[Key{Router: "web", Check: "pods"}] = Result{State: Failing}
	if got := h.m.Results()[Key{Router: "web", Check: "pods"}]; got.State != Unknown {
		t.Errorf("changing the returned map changed the Manager: %+v", got)
	}
}

package track

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
)

// bound is how long a test waits for something that should take milliseconds.
const bound = 10 * time.Second

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// harness is a Manager on a fake clock whose checks report each finished run.
type harness struct {
	t       *testing.T
	m       *Manager
	clock   *testingclock.FakeClock
	metrics *metrics.Metrics
	ran     chan Key
	changes chan struct{}
	pods    *fakeSource
	links   *fakeSource
	seen    map[Key]int // runs reported while the test waited for another check
}

func newHarness(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		clock:   testingclock.NewFakeClock(t0),
		metrics: metrics.New(prometheus.NewRegistry()),
		ran:     make(chan Key, 1000),
		changes: make(chan struct{}, 1),
		pods:    newFakeSource(),
		links:   newFakeSource(),
		seen:    map[Key]int{},
	}
	o.Clock, o.Metrics, o.Log = h.clock, h.metrics, testr.New(t)
	o.afterRun = func(k Key) { h.ran <- k }
	if o.OnChange == nil {
		o.OnChange = func() {
			select {
			case h.changes <- struct{}{}:
			default:
			}
		}
	}
	if o.Pods == nil {
		o.Pods = fakePods{h.pods}
	}
	o.Links = fakeLinks{h.links} // never the real netlink here
	h.m = NewManager(o)
	t.Cleanup(h.m.Close)
	return h
}

// next waits for the next finished run of k and returns k's Result after it.
func (h *harness) next(k Key) Result {
	h.t.Helper()
	if h.seen[k] > 0 {
		h.seen[k]--
		return h.m.Results()[k]
	}
	timeout := time.After(bound)
	for {
		select {
		case got := <-h.ran:
			if got == k {
				return h.m.Results()[k]
			}
			h.seen[got]++
		case <-timeout:
			h.t.Fatalf("no run of %v within %s", k, bound)
		}
	}
}

// step moves the fake clock on by the interval, starting the next run of every waiting check.
func (h *harness) step(d time.Duration) { h.clock.Step(d) }

// counter reads one series of a counter or gauge vector.
func value(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/bash\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAnExecCheckRisesAndFallsWithItsExitStatus(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	code := filepath.Join(state, "code")
	// The environment is scrubbed, so the script names its control file itself.
	writeScript(t, dir, "check.sh", `c=$(cat `+code+`); echo "$VRRP_NAME/$VRRP_CHECK exit $c"; exit $c`)
	h := newHarness(t, Options{HookDir: dir})
	k := Key{Router: "web", Check: "haproxy"}
	const interval = time.Second

	writeFile(t, code, "0")
	h.m.Sync(map[string][]Check{"web": {{Name: "haproxy", Kind: KindExec, Command: []string{"check.sh"},
		Interval: interval, Timeout: bound, Rise: 2, Fall: 2}}})
	if got := h.m.Results()[k]; got.State != Unknown {
		t.Fatalf("before its first run the check is %v, want Unknown", got.State)
	}

	// Each step: what the script exits with, then the Result after that run.
	steps := []struct {
		exit string
		want Result
	}{
		{"0", Result{State: Passing, Since: t0, Message: "web/haproxy exit 0"}},
		{"1", Result{State: Passing, Since: t0, Message: "web/haproxy exit 0"}},
		{"1", Result{State: Failing, Since: t0.Add(2 * interval), Message: "web/haproxy exit 1"}},
		{"0", Result{State: Failing, Since: t0.Add(2 * interval), Message: "web/haproxy exit 1"}},
		{"0", Result{State: Passing, Since: t0.Add(4 * interval), Message: "web/haproxy exit 0"}},
	}
	for i, s := range steps {
		if i > 0 {
			writeFile(t, code, s.exit)
			h.step(interval)
		}
		if diff := cmp.Diff(s.want, h.next(k)); diff != "" {
			t.Fatalf("after run %d, exit %s (-want +got):\n%s", i, s.exit, diff)
		}
	}
	want := map[string]float64{metrics.RunPassed: 3, metrics.RunFailed: 2, metrics.RunTimeout: 0}
	for result, n := range want {
		if got := value(h.metrics.TrackRuns.WithLabelValues("web", "haproxy", result)); got != n {
			t.Errorf("%s{result=%q} = %v, want %v", metrics.TrackRuns, result, got, n)
		}
	}
	if got := value(h.metrics.TrackStateChanges.WithLabelValues("web", "haproxy", metrics.CheckFailing)); got != 1 {
		t.Errorf("%s{to=failing} = %v, want 1", metrics.TrackStateChanges, got)
	}
	if got := value(h.metrics.TrackPassing.WithLabelValues("web", "haproxy")); got != 1 {
		t.Errorf("%s = %v, want 1", metrics.TrackCheckPassing, got)
	}
}

// pidOf reads a pid a script wrote, waiting for it within bound.
func pidOf(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the script did not record its pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// gone waits up to a second for pid to end: the kernel takes a moment after SIGKILL.
func gone(pid int) bool {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if s := string(b); strings.Contains(s[strings.LastIndexByte(s, ')'):], ") Z") {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return false
}

func TestAHangingExecCheckIsKilledAtItsTimeoutAndFails(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	pidFile := filepath.Join(state, "child.pid")
	writeScript(t, dir, "hang.sh", "trap '' TERM\nsleep 1000 &\necho $! > "+pidFile+"\necho waiting for the VPN\nwait")
	h := newHarness(t, Options{HookDir: dir})
	k := Key{Router: "vpn", Check: "tunnel"}
	// Enough for bash to start its child on a loaded machine, as in agent/hooks' own test.
	const timeout = 500 * time.Millisecond

	start := time.Now()
	h.m.Sync(map[string][]Check{"vpn": {{Name: "tunnel", Kind: KindExec, Command: []string{"hang.sh"},
		Interval: time.Second, Timeout: timeout, Rise: 1, Fall: 1}}})
	got := h.next(k)
	took := time.Since(start)

	want := Result{State: Failing, Since: t0, Message: "timed out after 500ms: waiting for the VPN"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if took < timeout || took > timeout+time.Second {
		t.Errorf("the run took %s, want the timeout %s and little more", took, timeout)
	}
	t.Logf("a hanging exec check with timeout %s failed after %s", timeout, took)
	if !gone(pidOf(t, pidFile)) {
		t.Errorf("the hanging check's child outlived its timeout")
	}
	if n := value(h.metrics.TrackRuns.WithLabelValues("vpn", "tunnel", metrics.RunTimeout)); n != 1 {
		t.Errorf("%s{result=timeout} = %v, want 1", metrics.TrackRuns, n)
	}
}

func TestAnExecCheckThatLeavesAChildPassesAtOnceAndLeavesNothing(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	pids := filepath.Join(state, "children")
	// A check that starts something and forgets it, the child holding its output.
	writeScript(t, dir, "check.sh", "sleep 30 &\necho $! >> "+pids+"\necho fine")
	h := newHarness(t, Options{HookDir: dir})
	k := Key{Router: "web", Check: "leaky"}
	// Under the second for which a child holding the output used to hold up the verdict.
	const timeout = 300 * time.Millisecond

	h.m.Sync(map[string][]Check{"web": {{Name: "leaky", Kind: KindExec, Command: []string{"check.sh"},
		Interval: time.Second, Timeout: timeout, Rise: 1, Fall: 1}}})
	const runs = 3
	for i := range runs {
		if i > 0 {
			h.step(time.Second)
		}
		if got := h.next(k); got.State != Passing || got.Message != "fine" {
			t.Fatalf("run %d: %+v, want Passing with %q", i, got, "fine")
		}
	}
	if n := value(h.metrics.TrackRuns.WithLabelValues("web", "leaky", metrics.RunTimeout)); n != 0 {
		t.Errorf("%s{result=timeout} = %v, want 0", metrics.TrackRuns, n)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	children := strings.Fields(string(b))
	if len(children) != runs {
		t.Fatalf("children recorded: %v, want %d", children, runs)
	}
	for _, c := range children {
		pid, err := strconv.Atoi(c)
		if err != nil {
			t.Fatal(err)
		}
		if !exits(pid) {
			t.Errorf("the child %d of a finished run lives on", pid)
		}
	}
}

// exits reports whether pid has exited (or exits within bound), killing it if not. Its run sent
// SIGKILL before returning; a pidfd becomes readable once the process has exited.
func exits(pid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return true // gone and reaped
	}
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(bound/time.Millisecond))
	if err != nil || n == 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return false
	}
	return true
}

func TestAnExecCheckThatFloodsOutputIsBounded(t *testing.T) {
	tests := map[string]struct {
		script  string
		timeout time.Duration
		want    State
		message func(string) bool
	}{
		"megabytes of output, then a verdict, keep the last line": {
			script:  "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo done",
			timeout: bound, want: Passing,
			message: func(m string) bool { return m == "done" },
		},
		"endless output is cut off at the timeout": {
			script:  "yes flood",
			timeout: 300 * time.Millisecond, want: Failing,
			message: func(m string) bool { return strings.HasPrefix(m, "timed out after 300ms") },
		},
		"one endless line is clipped": {
			script:  "head -c 100000 /dev/zero | tr '\\0' x; exit 1",
			timeout: bound, want: Failing,
			message: func(m string) bool { return m == strings.Repeat("x", MaxMessage) },
		},
		"output that is not UTF-8 is made valid": {
			script:  `printf 'broken \xff\xfe\n'; exit 2`,
			timeout: bound, want: Failing,
			message: func(m string) bool { return m == "broken \uFFFD" },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeScript(t, dir, "flood.sh", tc.script)
			h := newHarness(t, Options{HookDir: dir})
			k := Key{Router: "web", Check: "flood"}
			h.m.Sync(map[string][]Check{"web": {{Name: "flood", Kind: KindExec, Command: []string{"flood.sh"},
				Interval: time.Second, Timeout: tc.timeout, Rise: 1, Fall: 1}}})
			got := h.next(k)
			if got.State != tc.want || !tc.message(got.Message) || len(got.Message) > MaxMessage {
				t.Errorf("state %v message %q (%d bytes); want %v and a bounded message", got.State, got.Message, len(got.Message), tc.want)
			}
		})
	}
}

// An exec check whose program cannot run at all is not a failing service: it is Unknown, adding
// nothing, with why, as keepalived disables such a script. Failing it stopped the router on every
// node, as when a check is added before its script has reached the nodes' hook directory.
func TestAnExecCheckThatCannotRunAddsNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "plain.sh"), "#!/bin/bash\nexit 0\n") // no execute bit
	if err := os.WriteFile(filepath.Join(dir, "nointerpreter.sh"), []byte("#!/nonexistent/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{HookDir: dir})
	tests := map[string]struct {
		command []string
		want    string
	}{
		"a missing program is not run":                      {command: []string{"missing.sh"}, want: "no such file or directory"},
		"a program outside the directory is not run":        {command: []string{"/bin/true"}, want: "outside the hook directory"},
		"an escape through the parent dir is not run":       {command: []string{"../true"}, want: "outside the hook directory"},
		"a program without an execute bit is not run":       {command: []string{"plain.sh"}, want: "not an executable"},
		"a program whose interpreter is missing is not run": {command: []string{"nointerpreter.sh"}, want: "no such file or directory"},
	}
	want := map[string][]Check{}
	for name, tc := range tests {
		want["r"] = append(want["r"], Check{Name: name, Kind: KindExec, Command: tc.command, Interval: time.Second, Timeout: bound})
	}
	h.m.Sync(want)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := h.next(Key{Router: "r", Check: name})
			if got.State != Unknown || !strings.HasPrefix(got.Message, "not run: ") || !strings.Contains(got.Message, tc.want) {
				t.Errorf("state %v message %q; want Unknown with %q", got.State, got.Message, tc.want)
			}
		})
	}
}

// Once its program is there the check runs, and its first run decides. A check that has run
// counts a program gone as a failure, by fall: a script redeployed in place, missing for an
// instant, must not lift a FAULT or a weight.
func TestAnExecCheckRunsOnceItsProgramArrives(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, Options{HookDir: dir})
	k := Key{Router: "r", Check: "late"}
	h.m.Sync(map[string][]Check{"r": {{Name: "late", Kind: KindExec, Command: []string{"late.sh"}, Interval: time.Second, Timeout: bound, Rise: 3, Fall: 3}}})
	if got := h.next(k); got.State != Unknown {
		t.Fatalf("before its program arrived: %+v; want Unknown", got)
	}
	if got := value(h.metrics.TrackRuns.WithLabelValues("r", "late", metrics.RunNotRun)); got != 1 {
		t.Errorf("runs counted not_run: %v, want 1", got)
	}
	writeScript(t, dir, "late.sh", "echo down; exit 1")
	h.step(time.Second)
	if got := h.next(k); got.State != Failing || got.Message != "down" {
		t.Fatalf("the first run after its program arrived: %+v; want Failing at once (fall 3 or not)", got)
	}
	if err := os.Remove(filepath.Join(dir, "late.sh")); err != nil {
		t.Fatal(err)
	}
	h.step(time.Second)
	if got := h.next(k); got.State != Failing {
		t.Errorf("a failing check whose program went: %+v; want it Failing still", got)
	}
	writeScript(t, dir, "late.sh", "echo up")
	for range 3 {
		h.step(time.Second)
		h.next(k)
	}
	if got := h.m.Results()[k]; got.State != Passing {
		t.Fatalf("after rise passing runs: %+v; want Passing", got)
	}
	if err := os.Remove(filepath.Join(dir, "late.sh")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		h.step(time.Second)
		if got := h.next(k); got.State != Passing {
			t.Errorf("a passing check whose program went, run %d of fall 3: %+v; want it Passing still", i+1, got)
		}
	}
	h.step(time.Second)
	if got := h.next(k); got.State != Failing || !strings.Contains(got.Message, "not run: ") {
		t.Errorf("a passing check whose program went, run 3 of fall 3: %+v; want Failing with why", got)
	}
}

func TestWithoutAHookDirectoryAnExecCheckIsNotRun(t *testing.T) {
	h := newHarness(t, Options{})
	k := Key{Router: "r", Check: "shell"}
	h.m.Sync(map[string][]Check{"r": {{Name: "shell", Kind: KindExec, Command: []string{"bin/true"}, Interval: time.Second, Timeout: bound}}})
	if got := h.next(k); got.State != Unknown || got.Message != "not run: exec checks need a hook directory" {
		t.Errorf("result %+v; want Unknown for want of a hook directory", got)
	}
}

func TestRunsNeverOverlapAndFollowTheInterval(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	log := filepath.Join(state, "log")
	// Each run records its start and end; an overlap would interleave them.
	writeScript(t, dir, "slow.sh", "echo start >> "+log+"; sleep 0.05; echo end >> "+log)
	h := newHarness(t, Options{HookDir: dir})
	k := Key{Router: "web", Check: "slow"}
	const interval = 10 * time.Second
	h.m.Sync(map[string][]Check{"web": {{Name: "slow", Kind: KindExec, Command: []string{"slow.sh"}, Interval: interval, Timeout: bound}}})
	h.next(k)

	// Short of the interval nothing runs; at it, the next run starts.
	h.step(interval - time.Millisecond)
	select {
	case <-h.ran:
		t.Fatal("a run started before the interval was over")
	default:
	}
	h.step(time.Millisecond)
	h.next(k)
	h.step(interval)
	h.next(k)

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(b)), strings.Fields(strings.Repeat("start end ", 3)); !cmp.Equal(want, got) {
		t.Errorf("runs %v, want three in turn", got)
	}
}

package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// bound is how long a test waits for something that should take milliseconds.
const bound = 10 * time.Second

// newRunner returns a Runner over dir whose results arrive on the returned channel. At the end of
// the test it waits for every hook, so that none outlives it.
func newRunner(t *testing.T, dir string, opts ...Option) (*Runner, <-chan Result) {
	t.Helper()
	results := make(chan Result, 1000)
	r := NewRunner(dir, testr.New(t), func(res Result) { results <- res }, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		if err := r.Wait(ctx); err != nil {
			t.Errorf("hooks still running at the end of the test: %v", err)
		}
	})
	return r, results
}

func next(t *testing.T, results <-chan Result) Result {
	t.Helper()
	select {
	case res := <-results:
		return res
	case <-time.After(bound):
		t.Fatalf("no hook result within %s", bound)
		return Result{}
	}
}

func wait(t *testing.T, r *Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := r.Wait(ctx); err != nil {
		t.Fatalf("waiting for hooks: %v", err)
	}
}

// gate holds hooks (`echo > "$STARTED"; read x < "$GATE"`) until the test lets one through, and tells
// the test when a hook got there. The test holds both FIFOs open read-write, so neither side ever
// blocks on open, and a line written early waits in the pipe for its reader.
type gate struct {
	t       *testing.T
	env     map[string]string
	gate    *os.File
	started *os.File
}

// script is the body of a hook that waits at the gate.
const gateScript = `echo > "$STARTED"; read x < "$GATE"`

func newGate(t *testing.T) *gate {
	t.Helper()
	dir := t.TempDir()
	g := &gate{t: t, env: map[string]string{"GATE": filepath.Join(dir, "gate"), "STARTED": filepath.Join(dir, "started")}}
	for _, p := range []string{g.env["GATE"], g.env["STARTED"]} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if g.gate, err = os.OpenFile(g.env["GATE"], os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	if g.started, err = os.OpenFile(g.env["STARTED"], os.O_RDWR, 0); err != nil {
		t.Fatal(err)
	}
	// Lets through whatever is still held if the test fails early, before the runner's cleanup
	// (registered earlier, so run later) waits for it.
	t.Cleanup(func() {
		_, _ = g.gate.WriteString(strings.Repeat("go\n", 100))
		_ = g.gate.Close()
		_ = g.started.Close()
	})
	return g
}

// release lets one hook through.
func (g *gate) release() {
	g.t.Helper()
	if _, err := g.gate.WriteString("go\n"); err != nil {
		g.t.Fatal(err)
	}
}

// waitStarted returns once a hook has reached the gate.
func (g *gate) waitStarted() {
	g.t.Helper()
	if err := g.started.SetReadDeadline(time.Now().Add(bound)); err != nil {
		g.t.Fatal(err)
	}
	if _, err := g.started.Read(make([]byte, 1)); err != nil {
		g.t.Fatalf("no hook reached the gate: %v", err)
	}
}

func TestHooksOfOneRouterRunInOrder(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "log")
	writeScript(t, dir, "record.sh", `echo "$*" >> `+log)
	r, results := newRunner(t, dir)

	var want []string
	for i := range 8 {
		r.Enqueue(Job{Router: "services", Kind: KindNotify, Command: []string{"record.sh"}, Args: []string{strconv.Itoa(i)}, Timeout: bound})
		want = append(want, strconv.Itoa(i))
	}
	wait(t, r)

	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, strings.Fields(string(b))); diff != "" {
		t.Errorf("hooks ran in the wrong order (-want +got):\n%s", diff)
	}
	var got []string
	for range want {
		res := next(t, results)
		if res.Err != nil {
			t.Errorf("hook %v: %v", res.Job.Args, res.Err)
		}
		got = append(got, res.Job.Args[0])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results reported in the wrong order (-want +got):\n%s", diff)
	}
}

func TestRoutersRunInParallelAndEnqueueNeverBlocks(t *testing.T) {
	dir := t.TempDir()
	g := newGate(t)
	writeScript(t, dir, "block.sh", gateScript)
	writeScript(t, dir, "quick.sh", `exit 0`)
	r, results := newRunner(t, dir)

	// Router a's first hook blocks until released; everything queued behind it must wait, while
	// Enqueue returns at once and router b goes on.
	r.Enqueue(Job{Router: "a", Kind: KindMaster, Command: []string{"block.sh"}, Env: g.env, Timeout: bound})
	for range 100 {
		r.Enqueue(Job{Router: "a", Kind: KindNotify, Command: []string{"quick.sh"}, Timeout: bound})
	}
	r.Enqueue(Job{Router: "b", Kind: KindMaster, Command: []string{"quick.sh"}, Timeout: bound})

	if res := next(t, results); res.Job.Router != "b" || res.Err != nil {
		t.Fatalf("first result = router %q kind %q err %v, want router b's hook while a's blocks", res.Job.Router, res.Job.Kind, res.Err)
	}
	g.release()
	for i := range 101 {
		res := next(t, results)
		if res.Job.Router != "a" || res.Err != nil {
			t.Fatalf("result %d = router %q err %v, want router a's hooks succeeding", i, res.Job.Router, res.Err)
		}
		if i == 0 && res.Job.Kind != KindMaster {
			t.Fatalf("router a's first result is %q, want the blocking master hook", res.Job.Kind)
		}
	}
	wait(t, r)
}

func TestAFullQueueDropsTheOldestWaitingJob(t *testing.T) {
	dir := t.TempDir()
	g := newGate(t)
	writeScript(t, dir, "block.sh", gateScript)
	writeScript(t, dir, "quick.sh", `exit 0`)
	r, results := newRunner(t, dir, WithMaxQueued(2))

	r.Enqueue(Job{Router: "a", Kind: KindFault, Command: []string{"block.sh"}, Env: g.env, Timeout: bound})
	g.waitStarted()
	for _, kind := range []string{KindMaster, KindBackup, KindNotify} {
		r.Enqueue(Job{Router: "a", Kind: kind, Command: []string{"quick.sh"}, Timeout: bound})
	}
	g.release()
	var got []string
	for range 4 {
		res := next(t, results)
		got = append(got, fmt.Sprintf("%s: %v", res.Job.Kind, res.Err))
	}
	want := []string{"master: " + ErrDropped.Error(), "fault: <nil>", "backup: <nil>", "notify: <nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestTheSeedScriptSeesKeepalivedArguments(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(t.TempDir(), "master_status")
	// The seed's keepalived.sh with its mail and VPN calls replaced by echo, and its flag file moved.
	writeScript(t, dir, "keepalived.sh", `
TYPE=$1
NAME=$2
STATE=$3
disableMaster() { echo 0 > `+flag+`; }
enableMaster() { echo 1 > `+flag+`; }
case $STATE in
	"MASTER") enableMaster; echo "Switching to master state $TYPE/$NAME"; exit 0 ;;
	"BACKUP") disableMaster; echo "Switching to backup state $TYPE/$NAME"; exit 0 ;;
	"STOP") disableMaster; echo "Stop detected! $TYPE/$NAME"; exit 0 ;;
	"FAULT") disableMaster; echo "Fault detected! Parameters: $*"; exit 1 ;;
	*) disableMaster; echo "Unknown state ($STATE) detected! Parameters: $*"; exit 1 ;;
esac`)
	r, results := newRunner(t, dir)

	notify := func(state string, prio int) Job {
		return Job{Router: "VI_1", Kind: KindNotify, Command: []string{"keepalived.sh"}, Args: NotifyArgs("VI_1", state, prio), Timeout: bound}
	}
	stop := Job{Router: "VI_1", Kind: KindStop, Command: []string{"keepalived.sh", "0", "VI_1", "STOP"}, Timeout: bound}
	steps := []struct {
		job        Job
		wantFlag   string
		wantExit   int
		wantOutput string
	}{
		{notify("MASTER", 150), "1", 0, "Switching to master state INSTANCE/VI_1"},
		{notify("BACKUP", 150), "0", 0, "Switching to backup state INSTANCE/VI_1"},
		{notify("MASTER", 150), "1", 0, "Switching to master state INSTANCE/VI_1"},
		{stop, "0", 0, "Stop detected! 0/VI_1"},
		{notify("FAULT", 150), "0", 1, "Fault detected! Parameters: INSTANCE VI_1 FAULT 150"},
	}
	for _, s := range steps {
		r.Enqueue(s.job)
		res := next(t, results)
		b, err := os.ReadFile(flag)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != s.wantFlag || res.ExitCode != s.wantExit || res.Output != s.wantOutput {
			t.Errorf("%v %v: flag %q exit %d output %q; want flag %q exit %d output %q",
				s.job.Command, s.job.Args, got, res.ExitCode, res.Output, s.wantFlag, s.wantExit, s.wantOutput)
		}
		if (res.Err != nil) != (s.wantExit != 0) {
			t.Errorf("%v %v: err %v with exit code %d", s.job.Command, s.job.Args, res.Err, res.ExitCode)
		}
	}
}

func TestHooksGetACleanEnvironmentWithTheRouterState(t *testing.T) {
	t.Setenv("VRRP_TEST_SECRET", "agent-only")
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", `exec /usr/bin/env`)
	r, results := newRunner(t, dir)

	env := StateEnv("services", "MASTER", 150, []netip.Prefix{netip.MustParsePrefix("198.51.100.252/24"), netip.MustParsePrefix("198.51.100.253/24")}, "primary")
	env["BAD=NAME"] = "x"
	r.Enqueue(Job{Router: "services", Kind: KindMaster, Command: []string{"env.sh"}, Env: env, Timeout: bound})
	res := next(t, results)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var got []string
	for _, l := range strings.Split(res.Output, "\n") {
		// The shell adds these on its own.
		if !strings.HasPrefix(l, "PWD=") && !strings.HasPrefix(l, "SHLVL=") && !strings.HasPrefix(l, "_=") {
			got = append(got, l)
		}
	}
	sort.Strings(got)
	want := []string{
		"NODE_NAME=primary",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"VRRP_ADDRESSES=198.51.100.252/24 198.51.100.253/24",
		"VRRP_NAME=services",
		"VRRP_PRIORITY=150",
		"VRRP_STATE=MASTER",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hook environment (-want +got):\n%s", diff)
	}
}

func TestATimedOutHookIsKilledWithItsProcessGroup(t *testing.T) {
	tests := map[string]struct {
		trap  string
		grace time.Duration
	}{
		"a hook that exits on SIGTERM goes within the grace period":    {grace: 300 * time.Millisecond},
		"a hook that ignores SIGTERM is killed with SIGKILL":           {trap: "trap '' TERM", grace: 100 * time.Millisecond},
		"a hook is killed with SIGKILL at once when there is no grace": {trap: "trap '' TERM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(t.TempDir(), "child.pid")
			// The child keeps the hook's output open, as a forgotten background job would.
			writeScript(t, dir, "hang.sh", tc.trap+"\nsleep 1000 &\necho $! > "+pidFile+"\nwait")
			r, results := newRunner(t, dir, WithKillGrace(tc.grace))
			const timeout = 500 * time.Millisecond

			r.Enqueue(Job{Router: "services", Kind: KindFault, Command: []string{"hang.sh"}, Timeout: timeout})
			res := next(t, results)

			if !res.TimedOut || !errors.Is(res.Err, ErrTimeout) || res.ExitCode != -1 {
				t.Errorf("result: timedOut %v exit %d err %v; want timed out, killed, ErrTimeout", res.TimedOut, res.ExitCode, res.Err)
			}
			if res.Duration < timeout || res.Duration > timeout+tc.grace+outputWaitDelay {
				t.Errorf("duration %s, want between %s and %s", res.Duration, timeout, timeout+tc.grace+outputWaitDelay)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("the hook did not record its child within %s: %v", timeout, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			// The signal is sent when the result comes; the kernel takes a moment to end the child.
			deadline := time.Now().Add(time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the hook's child %d outlived the timeout by a second", pid)
			}
		})
	}
}

// alive reports whether pid runs; a zombie waiting for init to reap it does not.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func TestADaemonStartedByAHookKeepsRunning(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	pidFile, goFile, wrote := filepath.Join(state, "daemon.pid"), filepath.Join(state, "go"), filepath.Join(state, "wrote")
	// Like the seed's vpn.sh: starts something long-lived and exits 0, here without redirecting its
	// output, so the runner has to stop waiting for the output after outputWaitDelay. The daemon
	// writes to that output once told to, after the result: a write to a pipe nobody reads kills
	// it with SIGPIPE.
	writeScript(t, dir, "vpn.sh", fmt.Sprintf(`(while [ ! -e %[1]s ]; do sleep 0.05; done; echo connected; touch %[2]s; exec sleep 1000) &
echo $! > %[3]s
echo started`, goFile, wrote, pidFile))
	r, results := newRunner(t, dir)

	r.Enqueue(Job{Router: "services", Kind: KindMaster, Command: []string{"vpn.sh"}, Timeout: bound})
	res := next(t, results)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if res.Err != nil || res.ExitCode != 0 || res.TimedOut || res.Output != "started" {
		t.Errorf("result: err %v exit %d timedOut %v output %q; want success with output %q", res.Err, res.ExitCode, res.TimedOut, res.Output, "started")
	}
	if !alive(pid) {
		t.Fatalf("the daemon %d started by the hook was killed", pid)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(bound); alive(pid); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(wrote); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon %d neither wrote nor died within %v", pid, bound)
		}
	}
	t.Errorf("the daemon %d started by the hook died when it wrote to its output after the hook's result", pid)
}

func TestOutputKeepsTheLastLines(t *testing.T) {
	long := strings.Repeat("x", 3000)
	tests := map[string]struct {
		script string
		want   string
	}{
		"many lines keep the last ten": {
			script: `for i in $(seq 1 100); do echo "line $i"; done`,
			want:   "line 91\nline 92\nline 93\nline 94\nline 95\nline 96\nline 97\nline 98\nline 99\nline 100",
		},
		"a long line keeps its last KiB": {script: "echo " + long, want: long[:outputMaxBytes]},
		"stdout and stderr interleave in order": {
			script: "echo one; echo two >&2; echo three",
			want:   "one\ntwo\nthree",
		},
		"no output is empty": {script: "true", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeScript(t, dir, "out.sh", tc.script)
			r, results := newRunner(t, dir)
			r.Enqueue(Job{Router: "services", Kind: KindNotify, Command: []string{"out.sh"}, Timeout: bound})
			res := next(t, results)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if diff := cmp.Diff(tc.want, res.Output); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestARefusedHookIsReportedNotRun(t *testing.T) {
	dir := t.TempDir()
	r, results := newRunner(t, dir)
	tests := map[string]struct {
		command []string
		wantErr error
	}{
		"an escape through the parent directory":  {command: []string{"../x"}, wantErr: ErrOutsideHookDir},
		"a shell outside the directory":           {command: []string{"/bin/sh", "-c", "id"}, wantErr: ErrOutsideHookDir},
		"an empty command":                        {command: nil, wantErr: ErrNotExecutable},
		"a missing program in the hook directory": {command: []string{"missing.sh"}, wantErr: os.ErrNotExist},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r.Enqueue(Job{Router: "services", Kind: KindMaster, Command: tc.command, Timeout: bound})
			res := next(t, results)
			if !errors.Is(res.Err, tc.wantErr) || res.Path != "" || res.ExitCode != -1 {
				t.Errorf("result: path %q exit %d err %v; want refused with %v", res.Path, res.ExitCode, res.Err, tc.wantErr)
			}
		})
	}
}

func TestWaitGivesUpWithItsContext(t *testing.T) {
	dir := t.TempDir()
	g := newGate(t)
	writeScript(t, dir, "block.sh", gateScript)
	r, results := newRunner(t, dir)
	r.Enqueue(Job{Router: "a", Kind: KindStop, Command: []string{"block.sh"}, Env: g.env, Timeout: bound})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a canceled context and a blocked hook = %v, want %v", err, context.Canceled)
	}
	g.release()
	next(t, results)
	wait(t, r)
}

func TestRunReturnsTheResultToItsCallerOnly(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "check.sh", `echo "checked $VRRP_NAME"; exit 3`)
	r, results := newRunner(t, dir)

	res := r.Run(context.Background(), Job{Router: "services", Kind: "check", Command: []string{"check.sh"},
		Env: map[string]string{EnvName: "services"}, Timeout: bound})

	if res.ExitCode != 3 || res.Err == nil || res.Output != "checked services" {
		t.Errorf("result: exit %d err %v output %q; want exit 3 with output %q", res.ExitCode, res.Err, res.Output, "checked services")
	}
	select {
	case got := <-results:
		t.Errorf("Run passed its result to onResult: %+v", got)
	default:
	}
}

func TestCancellingRunKillsTheProcessGroup(t *testing.T) {
	dir := t.TempDir()
	g := newGate(t)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	writeScript(t, dir, "hang.sh", "trap '' TERM\nsleep 1000 &\necho $! > "+pidFile+"\n"+gateScript)
	r, _ := newRunner(t, dir, WithKillGrace(0))
	ctx, cancel := context.WithCancel(context.Background())
	resc := make(chan Result, 1)
	go func() {
		resc <- r.Run(ctx, Job{Router: "services", Kind: "check", Command: []string{"hang.sh"}, Env: g.env, Timeout: bound})
	}()
	g.waitStarted()

	cancel()
	var res Result
	select {
	case res = <-resc:
	case <-time.After(bound):
		t.Fatalf("Run did not return within %s of its context's end", bound)
	}
	if !errors.Is(res.Err, context.Canceled) || res.TimedOut || res.Duration >= bound {
		t.Errorf("result: err %v timedOut %v duration %s; want cancelled at once", res.Err, res.TimedOut, res.Duration)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// SIGKILL is sent before Run returns; the kernel takes a moment to end the child.
	deadline := time.Now().Add(time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the child %d of a cancelled run lives on", pid)
	}
}

func TestRunJudgesTheProgramAndLeavesNothingOfItsGroup(t *testing.T) {
	tests := map[string]struct {
		script  string
		timeout time.Duration
		exit    int
		output  string
	}{
		"a check that exits 0 beside a child holding its output passes within a short timeout": {
			script: "sleep 30 &\necho ok", timeout: 300 * time.Millisecond, output: "ok",
		},
		"a check that exits 0 beside a child holding its output passes at once with a long timeout": {
			script: "sleep 30 &\necho ok", timeout: bound, output: "ok",
		},
		"a check that fails beside a child holding its output fails on its own status": {
			script: "sleep 30 &\necho broken\nexit 3", timeout: bound, exit: 3, output: "broken",
		},
		"a check whose child does not hold its output leaves nothing either": {
			script: "sleep 30 >/dev/null 2>&1 &\necho ok", timeout: bound, output: "ok",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(t.TempDir(), "leader.pid")
			writeScript(t, dir, "check.sh", "echo $$ > "+pidFile+"\n"+tc.script)
			r, _ := newRunner(t, dir, WithKillGrace(0))

			res := r.Run(context.Background(), Job{Router: "services", Kind: "check", Command: []string{"check.sh"}, Timeout: tc.timeout})

			if res.TimedOut || res.ExitCode != tc.exit || (res.Err == nil) != (tc.exit == 0) || res.Output != tc.output {
				t.Errorf("result: timedOut %v exit %d err %v output %q; want exit %d with output %q", res.TimedOut, res.ExitCode, res.Err, res.Output, tc.exit, tc.output)
			}
			t.Logf("the run took %s", res.Duration)
			// Well under outputWaitDelay, which a child holding the output used to add.
			if res.Duration >= outputWaitDelay/2 {
				t.Errorf("duration %s, want under %s", res.Duration, outputWaitDelay/2)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pgid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			if left := survivors(t, pgid); len(left) > 0 {
				t.Errorf("processes of the check's group %d outlived its run: %v", pgid, left)
			}
		})
	}
}

// survivors returns the processes of group pgid that are still running bound after the call, and
// kills them. The group got SIGKILL before the run returned; a process on its way out is waited
// for through a pidfd, which becomes readable when it has exited.
func survivors(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var left []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		// After the command name in parentheses: state, ppid, pgrp.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" || f[0] == "X" {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // reaped meanwhile
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(bound/time.Millisecond))
		_ = unix.Close(fd)
		if err != nil || n == 0 {
			left = append(left, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return left
}

// Review of the hooks: at shutdown a transition's hook that hangs must not keep the STOP notify
// and the stop hook of its router waiting for its whole timeout, longer than the shutdown timeout:
// at the time Cut gives, the hook running is killed and those waiting are dropped, and what is
// enqueued after it runs.
func TestCutLetsTheStopHookRun(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	writeScript(t, dir, "hang.sh", "touch "+started+"\nexec sleep 1000")
	writeScript(t, dir, "stop.sh", "echo stopped")
	r, results := newRunner(t, dir, WithKillGrace(100*time.Millisecond))
	r.Enqueue(Job{Router: "services", Kind: KindMaster, Command: []string{"hang.sh"}, Timeout: time.Hour})
	r.Enqueue(Job{Router: "services", Kind: KindBackup, Command: []string{"stop.sh"}, Timeout: time.Hour})
	for deadline := time.Now().Add(bound); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hanging hook did not start within %v", bound)
		}
	}

	r.Cut(time.Now().Add(100 * time.Millisecond))
	r.Enqueue(Job{Router: "services", Kind: KindStop, Command: []string{"stop.sh"}, Timeout: time.Hour})
	got := map[string]Result{}
	for range 3 {
		res := next(t, results)
		got[res.Job.Kind] = res
	}
	if res := got[KindMaster]; !errors.Is(res.Err, ErrCut) || res.Duration > bound {
		t.Errorf("the hook running past the Cut's time: err %v after %v, want ErrCut within %v", res.Err, res.Duration, bound)
	}
	if res := got[KindBackup]; !errors.Is(res.Err, ErrCut) || res.Path != "" {
		t.Errorf("the hook waiting past the Cut's time: err %v path %q, want ErrCut without running", res.Err, res.Path)
	}
	if res := got[KindStop]; res.Err != nil || res.Output != "stopped" {
		t.Errorf("the stop hook enqueued after Cut: err %v output %q, want it run", res.Err, res.Output)
	}
	wait(t, r)
}

// The hooks enqueued before a Cut that end in time run as without it, in order, as keepalived
// runs every transition's notify before STOP; a Cut of an idle runner leaves Wait working.
func TestHooksThatEndBeforeTheCutsTimeRun(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "notify.sh", `echo "$3"`)
	r, results := newRunner(t, dir)
	r.Cut(time.Now().Add(bound))
	wait(t, r)
	for _, state := range []string{"MASTER", "BACKUP"} {
		r.Enqueue(Job{Router: "services", Kind: KindNotify, Command: []string{"notify.sh"}, Args: NotifyArgs("services", state, 100), Timeout: bound})
	}
	r.Cut(time.Now().Add(bound))
	r.Enqueue(Job{Router: "services", Kind: KindNotify, Command: []string{"notify.sh"}, Args: NotifyArgs("services", "STOP", 100), Timeout: bound})
	var got []string
	for range 3 {
		res := next(t, results)
		if res.Err != nil {
			t.Errorf("%s: %v", res.Output, res.Err)
		}
		got = append(got, res.Output)
	}
	if want := []string{"MASTER", "BACKUP", "STOP"}; !slices.Equal(got, want) {
		t.Errorf("notify ran with %q, want %q", got, want)
	}
	wait(t, r)
}

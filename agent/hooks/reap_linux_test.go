package hooks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"golang.org/x/sys/unix"
)

// reaperChild marks the process that TestWhatHooksLeaveBehindIsCollected runs as PID 1 would be.
const reaperChild = "VRRP_HOOKS_REAPER_CHILD"

// In the agent's container the agent is PID 1: every process a hook leaves behind becomes its
// child, and its zombie is the agent's to collect. The test runs in a process of its own that is a
// child subreaper, so that orphans come to it as they come to PID 1, and checks that none is left
// and that the hooks' own exit statuses are still theirs.
func TestWhatHooksLeaveBehindIsCollected(t *testing.T) {
	if os.Getenv(reaperChild) == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWhatHooksLeaveBehindIsCollected$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), reaperChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the test's own process: %v\n%s", err, out)
		}
		return
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("becoming a child subreaper: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		Reap(ctx, testr.New(t))
	}()
	defer func() {
		cancel()
		<-reaped
	}()

	dir := t.TempDir()
	writeScript(t, dir, "background.sh", "sleep 0.1 >/dev/null 2>&1 &\necho ok")
	writeScript(t, dir, "hang.sh", "sleep 30\necho never")
	writeScript(t, dir, "fail.sh", "exit 3")
	r, results := newRunner(t, dir, WithKillGrace(0))

	// A notify hook's background job ends later, orphaned.
	r.Enqueue(Job{Router: "notify", Kind: "master", Command: []string{"background.sh"}})
	// A check's background job is killed with its group once the check exits.
	// A check that hangs is killed with its group at its timeout: the shell is collected by run,
	// its sleep is orphaned.
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if res := r.Run(context.Background(), Job{Router: fmt.Sprint("check-", i), Kind: "check", Command: []string{"background.sh"}, Timeout: 5 * time.Second}); res.Err != nil {
				t.Errorf("background check: %v", res.Err)
			}
		})
		wg.Go(func() {
			if res := r.Run(context.Background(), Job{Router: fmt.Sprint("hang-", i), Kind: "check", Command: []string{"hang.sh"}, Timeout: 100 * time.Millisecond}); !res.TimedOut {
				t.Errorf("hanging check: %+v, want timed out", res)
			}
		})
		// Meanwhile a child other code starts with os/exec, in the agent's process group (a
		// kubeconfig's exec credential plugin), keeps its exit status.
		wg.Go(func() {
			for range 20 {
				if err := exec.Command("/bin/sh", "-c", "exit 3").Run(); err == nil || err.Error() != "exit status 3" {
					t.Errorf("a child started outside the hooks: %v, want exit status 3", err)
				}
			}
		})
		// Meanwhile the hooks' own children keep their exit status: none is collected by Reap.
		wg.Go(func() {
			for range 10 {
				if res := r.Run(context.Background(), Job{Router: fmt.Sprint("fail-", i), Kind: "check", Command: []string{"fail.sh"}, Timeout: 5 * time.Second}); res.ExitCode != 3 {
					t.Errorf("failing check: exit code %d (%v), want 3", res.ExitCode, res.Err)
				}
			}
		})
	}
	wg.Wait()
	if res := next(t, results); res.Err != nil {
		t.Errorf("notify hook: %v", res.Err)
	}

	deadline := time.Now().Add(bound)
	for {
		z := zombies(t)
		if len(z) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombie children left after the hooks ended: %v", z)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombies lists the zombie children of this process.
func zombies(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var z []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(b); ok && st.state == 'Z' && st.ppid == os.Getpid() {
			z = append(z, pid)
		}
	}
	return z
}

func TestParseStatReadsPastTheCommandName(t *testing.T) {
	tests := map[string]struct {
		stat string
		want procStat
		ok   bool
	}{
		"a plain name":                         {"42 (sleep) Z 1 40 40 0", procStat{'Z', 1, 40}, true},
		"a name with spaces and parentheses":   {"42 (a) b (c) S 7 42 42 0", procStat{'S', 7, 42}, true},
		"a name that ends the line is refused": {"42 (sleep)", procStat{}, false},
		"no name is refused":                   {"42 sleep Z 1 1", procStat{}, false},
		"a parent that is not a number":        {"42 (x) Z x 1", procStat{}, false},
		"no process group is refused":          {"42 (x) Z 1", procStat{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseStat([]byte(tc.stat))
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tc.stat, got, ok, tc.want, tc.ok)
			}
		})
	}
}

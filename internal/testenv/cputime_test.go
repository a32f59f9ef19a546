package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCPUTimeCountsWhatAProcessRuns(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A busy loop for 20 ms of wall time runs for some of it, whatever else shares the cores.
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	after, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("CPU time went from %v to %v over a busy loop, want it to grow", before, after)
	}
}

// The benchmarks read other processes' clocks: a child's, which counts what it ran, then one that
// is gone.
func TestCPUTimeOfAnotherProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the child to exit without reaping it, so that its clock can still be read.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	used, err := CPUTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The kernel scales user and system time to the same total, in ticks of its own.
	want := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if d := used - want; d < -10*time.Millisecond || d > 10*time.Millisecond {
		t.Errorf("CPUTime of the child = %v, its rusage says %v", used, want)
	}
	if _, err := CPUTime(cmd.Process.Pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime of a reaped child: %v, want ErrNoProcess", err)
	}
}

// A thread that leads no process has no process clock: that is an error, not a process gone.
func TestCPUTimeOfAThreadIsAnError(t *testing.T) {
	// A Go process has threads besides its first one (sysmon's, at least).
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		id, err := strconv.Atoi(task.Name())
		if err != nil || id == os.Getpid() {
			continue
		}
		if _, err := CPUTime(id); err == nil || errors.Is(err, ErrNoProcess) {
			t.Errorf("CPUTime of thread %d: %v, want an error that is not ErrNoProcess", id, err)
		}
		return
	}
	t.Fatal("no thread besides the first")
}

func TestCPUTimeOfNoProcessIsErrNoProcess(t *testing.T) {
	// Above the kernel's largest PID (PID_MAX_LIMIT, 4194304).
	if _, err := CPUTime(1 << 23); !errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime of no process: %v, want ErrNoProcess", err)
	}
	for _, pid := range []int{0, -1} {
		if _, err := CPUTime(pid); err == nil || errors.Is(err, ErrNoProcess) {
			t.Errorf("CPUTime(%d): %v, want an error that is not ErrNoProcess", pid, err)
		}
	}
}

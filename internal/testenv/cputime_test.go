package testenv

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
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

// The benchmarks read other processes' clocks: a child that runs, then one that is gone.
func TestCPUTimeOfAnotherProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var used time.Duration
	for used == 0 {
		var err error
		if used, err = CPUTime(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := CPUTime(cmd.Process.Pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime of a reaped child: %v, want ErrNoProcess", err)
	}
}

func TestCPUTimeOfNoProcessIsErrNoProcess(t *testing.T) {
	// Above the kernel's largest PID (PID_MAX_LIMIT, 4194304).
	if _, err := CPUTime(1 << 23); !errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime of no process: %v, want ErrNoProcess", err)
	}
	if _, err := CPUTime(0); err == nil || errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime(0): %v, want an error that is not ErrNoProcess", err)
	}
}

package testenv

import (
	"errors"
	"os"
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

func TestCPUTimeOfNoProcessIsErrNoProcess(t *testing.T) {
	// Above the kernel's largest PID (PID_MAX_LIMIT, 4194304).
	if _, err := CPUTime(1 << 23); !errors.Is(err, ErrNoProcess) {
		t.Errorf("CPUTime of no process: %v, want ErrNoProcess", err)
	}
}

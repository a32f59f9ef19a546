package main

import (
	"bufio"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReapWaitsForEveryExitedChild(t *testing.T) {
	var pids []int
	for range 3 {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatalf("starting /bin/true: %v", err)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		// WNOWAIT blocks until the child has exited and leaves it a zombie for reap.
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			t.Fatalf("waiting for child %d to exit: %v", pid, err)
		}
	}

	reap()

	for _, pid := range pids {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); !errors.Is(err, syscall.ECHILD) {
			t.Errorf("child %d: wait4 after reap = %v, want ECHILD (already reaped)", pid, err)
		}
	}
}

func TestPauseExitsZeroOnTerminationSignals(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pause")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building pause: %v: %s", err, out)
	}
	for name, sig := range map[string]syscall.Signal{
		"SIGTERM, as the kubelet stops a pod": syscall.SIGTERM,
		"SIGINT, as Ctrl-C":                   syscall.SIGINT,
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			// The first line comes once the signal handlers are installed.
			if !bufio.NewScanner(stderr).Scan() {
				t.Fatal("pause printed nothing before exiting")
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("pause after %v: %v, want exit status 0", sig, err)
			}
		})
	}
}

package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUTime is the CPU time, user and system, that pid's threads have run so far, summed, as the
// scheduler counts it: se.sum_exec_runtime in /proc/PID/task/TID/sched, in milliseconds with six
// decimals. The time of threads that have exited is missing: Go keeps its threads, keepalived's
// processes have one each.
//
// utime and stime (/proc/PID/stat) would do only on average: with tick-based accounting (HZ=250
// here) they charge whole ticks to whoever runs when one lands, so a daemon at 1 % of a core over
// 15 s gets about 37 samples, and runs of the same daemon differed by a fifth.
func CPUTime(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/sched", pid, t.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, err
		}
		d, err := sumExecRuntime(b)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/task/%s/sched: %w", pid, t.Name(), err)
		}
		total += d
	}
	return total, nil
}

// sumExecRuntime reads the se.sum_exec_runtime line of a sched file: "ms.nnnnnn".
func sumExecRuntime(sched []byte) (time.Duration, error) {
	for line := range strings.Lines(string(sched)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "se.sum_exec_runtime" {
			continue
		}
		ms, ns, _ := strings.Cut(strings.TrimSpace(value), ".")
		whole, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("se.sum_exec_runtime %q: %w", value, err)
		}
		frac, err := strconv.ParseInt((ns + "000000")[:6], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("se.sum_exec_runtime %q: %w", value, err)
		}
		return time.Duration(whole)*time.Millisecond + time.Duration(frac), nil
	}
	return 0, errors.New("no se.sum_exec_runtime (a kernel without CONFIG_SCHED_DEBUG)")
}

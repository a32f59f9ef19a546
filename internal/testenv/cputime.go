package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoProcess is CPUTime's error for a process that does not exist (any more).
var ErrNoProcess = errors.New("no such process")

// CPUTime is the CPU time, user and system, that process pid has run so far, as the scheduler
// counts it, to the nanosecond: its process CPU clock (clock_gettime of
// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)), which includes threads that have exited.
//
// utime and stime (/proc/PID/stat) would do only on average: with tick-based accounting (HZ=250
// here) they charge whole ticks to whoever runs when one lands, so a daemon at 1 % of a core over
// 15 s gets about 37 samples, and runs of the same daemon differed by a fifth.
func CPUTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		// 0 and -1 would name the caller's own clock, -2 and below other clocks or none.
		return 0, fmt.Errorf("CPU time of process %d: not a process ID", pid)
	}
	const cpuclockSched = 2
	clock := int32(^pid<<3 | cpuclockSched)
	var ts unix.Timespec
	err := unix.ClockGettime(clock, &ts)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ESRCH) {
		// EINVAL also means a thread that leads no process, or a kernel without the clock: only a
		// process that is gone is ErrNoProcess, which callers skip.
		if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(serr, fs.ErrNotExist) {
			return 0, fmt.Errorf("CPU time of process %d: %w", pid, ErrNoProcess)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

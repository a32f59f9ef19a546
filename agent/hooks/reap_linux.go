package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// A process that a hook leaves behind becomes, once its parent exits, the child of the nearest
// child subreaper or else of PID 1 of its PID namespace, which must collect its zombie. In the
// agent's container that is the agent: the image has no init, its entrypoint is the agent. Each
// zombie left uncollected holds one of the node's PIDs until the pod ends, and a health check whose
// script runs sleep or curl leaves one at every run that times out (its group is killed, the
// shell collected, the child orphaned), tens of thousands a day. Reap collects them.
//
// Reap collects only zombies outside the agent's own process group: a hook runs in a group of its
// own, which what it leaves behind keeps, while a child that other code starts with os/exec (a
// kubeconfig's exec credential plugin) stays in the agent's group and is collected by its own
// Wait. children are the processes run started and collects itself (cmd.Wait): Reap must leave
// those alone too, or run would lose their exit status. start and Reap's scan exclude each other,
// so that no child is seen exited before it is known to be run's.
var children struct {
	mu      sync.Mutex
	started map[int]bool
}

// start starts cmd and remembers its process as run's own until done.
func start(cmd *exec.Cmd) error {
	children.mu.Lock()
	defer children.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	if children.started == nil {
		children.started = map[int]bool{}
	}
	children.started[cmd.Process.Pid] = true
	return nil
}

// done forgets pid once run has collected it.
func done(pid int) {
	children.mu.Lock()
	defer children.mu.Unlock()
	delete(children.started, pid)
}

// reapEvery is how often Reap looks for zombies without a SIGCHLD: signals coalesce, and one that
// came while a scan skipped a child of run's that was about to be collected is not repeated.
const reapEvery = time.Minute

// Reap collects, until ctx ends, the zombies of processes that became this process's children
// when their parents exited, as PID 1 must. It returns at once when this process inherits no
// orphans: it is neither PID 1 nor a child subreaper (the standalone agent under systemd, whose
// PID 1 collects them).
func Reap(ctx context.Context, log logr.Logger) {
	if !inheritsOrphans() {
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	tick := time.NewTicker(reapEvery)
	defer tick.Stop()
	for {
		if n, err := reapOrphans(); err != nil {
			log.Error(err, "collecting the zombies of processes hooks left behind")
		} else if n > 0 {
			log.V(1).Info("Collected processes that hooks left behind", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		case <-tick.C:
		}
	}
}

// inheritsOrphans reports whether orphaned processes become this process's children.
func inheritsOrphans() bool {
	if os.Getpid() == 1 {
		return true
	}
	var on int32
	if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&on)), 0, 0, 0); err != nil {
		return false
	}
	return on != 0
}

// reapOrphans collects every zombie child of this process outside its process group that run did
// not start, and returns how many it collected.
func reapOrphans() (int, error) {
	children.mu.Lock()
	defer children.mu.Unlock()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	self, group, n := os.Getpid(), unix.Getpgrp(), 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || children.started[pid] {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		if st, ok := parseStat(stat); !ok || st.state != 'Z' || st.ppid != self || st.pgrp == group {
			continue
		}
		for {
			got, err := unix.Wait4(pid, nil, unix.WNOHANG, nil)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err == nil && got == pid {
				n++
			}
			break
		}
	}
	return n, nil
}

// procStat is what reapOrphans reads of /proc/PID/stat.
type procStat struct {
	state      byte
	ppid, pgrp int
}

// parseStat reads the state, parent PID and process group from the contents of /proc/PID/stat:
// "pid (comm) state ppid pgrp ...", where comm may hold spaces and parentheses, so the fields
// count from the last closing parenthesis.
func parseStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return procStat{}, false
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp}, true
}

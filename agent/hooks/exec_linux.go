package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// run resolves and runs one job; it never panics and always fills a Result. Cancelling ctx kills
// the job's process group as its timeout does. The Result follows the program's own exit status:
// a child it left running holds up neither the verdict nor the Result for longer than
// outputWaitDelay. With reap, the program's process group is killed as soon as the program exits,
// whatever its status: a health check runs every interval and must leave nothing behind, while a
// notify hook may start a daemon that has to stay.
func (r *Runner) run(ctx context.Context, job Job, reap bool) (res Result) {
	res = Result{Job: job, Started: time.Now(), ExitCode: -1}
	defer func() { res.Duration = time.Since(res.Started) }()
	if len(job.Command) == 0 {
		res.Err = fmt.Errorf("running %s hook of %s: %w: no command", job.Kind, job.Router, ErrNotExecutable)
		return res
	}
	path, err := Resolve(r.dir, job.Command[0])
	if err != nil {
		res.Err = fmt.Errorf("running %s hook of %s: %w", job.Kind, job.Router, err)
		return res
	}
	res.Path = path
	timeout := job.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}

	// A pipe of our own rather than an io.Writer: exec's copying goroutine would make Wait wait for
	// every holder of the pipe, children included, so a program that exits 0 at once would count
	// as timed out behind a child it left.
	pr, pw, err := os.Pipe()
	if err != nil {
		res.Err = fmt.Errorf("starting %s hook %s of %s: %w", job.Kind, path, job.Router, err)
		return res
	}
	held := false // a process the hook left holds the pipe: it is drained, not closed
	defer func() {
		if !held {
			_ = pr.Close()
		}
	}()
	out := &tail{}
	cmd := exec.Command(path, append(append([]string{}, job.Command[1:]...), job.Args...)...)
	cmd.Dir = "/"
	cmd.Env = environ(job.Env)
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe: lines keep their order
	// Its own process group, so that the timeout kills what the hook started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = start(cmd)
	_ = pw.Close() // the children hold their copies; EOF comes when the last one goes
	if err != nil {
		res.Err = fmt.Errorf("starting %s hook %s of %s: %w", job.Kind, path, job.Router, err)
		return res
	}
	pgid := cmd.Process.Pid
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, pr)
		copied <- err
	}()
	exited := make(chan struct{})
	go func() {
		waitExit(pgid)
		close(exited)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var cancelled error
	select {
	case <-exited:
	case <-timer.C:
		res.TimedOut = true
		r.kill(pgid, exited)
	case <-ctx.Done():
		cancelled = context.Cause(ctx)
		r.kill(pgid, exited)
	}
	if reap {
		// The program has exited but is not reaped yet, so its process group ID cannot have been
		// reused: the signal reaches only what the program left behind.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	werr := cmd.Wait() // at once: the program has exited and exec copies nothing
	done(pgid)
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}

	// The rest of the output, from whatever still holds the pipe: killed children close it as they
	// die; a daemon of a notify hook, or a process that left the group (setsid), may keep it open.
	_ = pr.SetReadDeadline(time.Now().Add(outputWaitDelay))
	if err := <-copied; errors.Is(err, os.ErrDeadlineExceeded) {
		r.log.V(1).Info("Hook left a process running that holds its output", "virtualIP", job.Router, "hook", job.Kind, "path", path)
		// Its output is read and dropped until it exits: closed, the pipe would kill it with
		// SIGPIPE at its next line (the seed's VPN client, a daemon started with & or nohup).
		held = true
		go func() {
			_ = pr.SetReadDeadline(time.Time{})
			_, _ = io.Copy(io.Discard, pr)
			_ = pr.Close()
		}()
	}
	res.Output = out.String()

	switch {
	case res.TimedOut:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w after %s", job.Kind, path, job.Router, ErrTimeout, timeout)
	case cancelled != nil:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w", job.Kind, path, job.Router, cancelled)
	case werr != nil:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w", job.Kind, path, job.Router, werr)
	}
	return res
}

// waitExit returns once the process pid has exited, without reaping it: until cmd.Wait reaps it,
// its PID, and so its process group ID, stays reserved.
func waitExit(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return // nil, or ECHILD if it is gone already
		}
	}
}

// kill ends the process group of a timed-out or cancelled hook: SIGTERM, then SIGKILL after the
// grace period. The group gets SIGKILL even when the leader exited on SIGTERM, since children that
// ignore SIGTERM would otherwise live on. It returns once the leader has exited.
func (r *Runner) kill(pgid int, exited <-chan struct{}) {
	if r.killGrace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(r.killGrace)
		defer grace.Stop()
		select {
		case <-exited:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		case <-grace.C:
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
}

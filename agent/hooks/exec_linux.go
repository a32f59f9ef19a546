package hooks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// run resolves and runs one job; it never panics and always fills a Result. Cancelling ctx kills
// the job's process group as its timeout does.
func (r *Runner) run(ctx context.Context, job Job) (res Result) {
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

	out := &tail{}
	cmd := exec.Command(path, append(append([]string{}, job.Command[1:]...), job.Args...)...)
	cmd.Dir = "/"
	cmd.Env = environ(job.Env)
	cmd.Stdout, cmd.Stderr = out, out // the same writer: one pipe, lines keep their order
	// Its own process group, so that the timeout kills what the hook started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = outputWaitDelay
	if err := cmd.Start(); err != nil {
		res.Err = fmt.Errorf("starting %s hook %s of %s: %w", job.Kind, path, job.Router, err)
		return res
	}
	pgid := cmd.Process.Pid
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var werr error
	var cancelled error
	select {
	case werr = <-waitc:
	case <-timer.C:
		res.TimedOut = true
		werr = r.kill(pgid, waitc)
	case <-ctx.Done():
		cancelled = ctx.Err()
		werr = r.kill(pgid, waitc)
	}
	res.Output = out.String()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case res.TimedOut:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w after %s", job.Kind, path, job.Router, ErrTimeout, timeout)
	case cancelled != nil:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w", job.Kind, path, job.Router, cancelled)
	case errors.Is(werr, exec.ErrWaitDelay):
		// Exited 0 but left a child holding its output: a daemon it started, which may stay.
		r.log.V(1).Info("Hook left a process running that holds its output", "virtualIP", job.Router, "hook", job.Kind, "path", path)
	case werr != nil:
		res.Err = fmt.Errorf("running %s hook %s of %s: %w", job.Kind, path, job.Router, werr)
	}
	return res
}

// kill ends the process group of a timed-out hook: SIGTERM, then SIGKILL after the grace period.
// The group gets SIGKILL even when the leader exited on SIGTERM, since children that ignore SIGTERM
// would otherwise live on. It returns the Wait error.
func (r *Runner) kill(pgid int, waitc <-chan error) error {
	if r.killGrace > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(r.killGrace)
		defer grace.Stop()
		select {
		case err := <-waitc:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return err
		case <-grace.C:
		}
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-waitc
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// procTimeout bounds every process a test starts; the test ends long before.
const procTimeout = 4 * time.Minute

// proc is a program running inside a node's namespace, in a process group of its own, with its
// output kept for the test log.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
	err  error // set before done closes
}

// startProc starts argv in n's namespace. At the end of the test it is killed if still running,
// and its output is logged if the test failed.
func startProc(t testing.TB, n *node, name string, argv ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	cmd := n.Command(ctx, argv[0], argv[1:]...)
	// `ip netns exec` execs the program, so the pid is the program's; a group of its own lets a
	// kill reach the children too (keepalived's VRRP process).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	p := &proc{t: t, name: name, cmd: cmd, out: &testenv.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s in %s: %v", name, n, err)
	}
	go func() {
		p.err = cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out)
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group, unless the process has exited.
func (p *proc) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// wait waits for the process to exit, at most timeout, and returns its exit error.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
}

// sigterm sends SIGTERM to the process only, not its group, so that its hooks finish as they would
// under systemd or the kubelet.
func (p *proc) sigterm() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("sending SIGTERM to %s: %v", p.name, err)
	}
}

// waitExit waits for a clean exit.
func (p *proc) waitExit() {
	p.t.Helper()
	if err := p.wait(30 * time.Second); err != nil {
		p.t.Fatalf("%s after SIGTERM: %v\n%s", p.name, err, p.out)
	}
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *proc) terminate() {
	p.t.Helper()
	p.sigterm()
	p.waitExit()
}

// kill sends SIGKILL to the whole group, as a crash would end it, and waits for it.
func (p *proc) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	_ = p.wait(10 * time.Second)
}

// agent is a vrrp-operator agent on a node, which tests may stop and start again.
type agent struct {
	t        testing.TB
	node     *node
	name     string // --node-name
	config   string
	hooks    *seedHook // nil: an empty hook directory
	stateDir string
	extra    []string
	runs     int
	*proc
}

type agentOptions struct {
	hooks *seedHook
	extra []string // more flags
}

// startAgent runs `vrrp-operator agent --config config --node-name name` on n, with metrics on
// 127.0.0.1:9472 inside n's namespace.
func startAgent(t testing.TB, n *node, name, config string, o agentOptions) *agent {
	t.Helper()
	a := &agent{t: t, node: n, name: name, config: config, hooks: o.hooks, stateDir: t.TempDir(), extra: o.extra}
	a.start()
	return a
}

// start starts the agent (again), with the same state directory.
func (a *agent) start() {
	a.t.Helper()
	hookDir := a.t.TempDir()
	if a.hooks != nil {
		hookDir = a.hooks.dir
	}
	a.runs++
	args := []string{agentBinary(a.t), "agent", "--config", a.config, "--node-name", a.name,
		"--hook-dir", hookDir, "--state-dir", a.stateDir, "--metrics-bind-address", metricsAddr, "-v", "1"}
	a.proc = startProc(a.t, a.node, fmt.Sprintf("agent %s (run %d)", a.name, a.runs), append(args, a.extra...)...)
}

// keepalived is keepalived running one configuration on a node.
type keepalived struct {
	t      testing.TB
	node   *node
	config string
	dir    string
	runs   int
	*proc
}

func startKeepalived(t testing.TB, n *node, config string) *keepalived {
	t.Helper()
	k := &keepalived{t: t, node: n, dir: t.TempDir()}
	k.config = filepath.Join(k.dir, "keepalived.conf")
	if err := os.WriteFile(k.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	k.start()
	return k
}

func (k *keepalived) start() {
	k.t.Helper()
	k.runs++
	// Pid files of its own, so that instances in other namespaces do not see each other; -P runs
	// only VRRP, -n stays in the foreground, -l -D log in detail to the console.
	k.proc = startProc(k.t, k.node, fmt.Sprintf("keepalived on %s (run %d)", k.node, k.runs), "keepalived",
		"-f", k.config,
		"-p", filepath.Join(k.dir, fmt.Sprintf("keepalived-%d.pid", k.runs)),
		"-r", filepath.Join(k.dir, fmt.Sprintf("vrrp-%d.pid", k.runs)),
		"-l", "-D", "-n", "-P")
}

// logHas reports whether the process printed s.
func (p *proc) logHas(s string) bool { return strings.Contains(p.out.String(), s) }

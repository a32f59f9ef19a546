package track

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
)

// probe runs a check once. It returns within the check's timeout, or soon
// after ctx ends.
type probe func(ctx context.Context) outcome

// probe returns the probe of a check that runs (exec, http, tcp or file).
func (m *Manager) probe(k Key, c Check) probe {
	switch c.Kind {
	case KindExec:
		return execProbe(m.runner, m.opts.HookDir, k, c)
	case KindHTTP:
		return httpProbe(c)
	case KindTCP:
		return tcpProbe(c)
	}
	read := m.opts.readFile
	if read == nil {
		read = readInt
	}
	return fileProbe(c, read)
}

// hookKind names exec checks in the errors of agent/hooks.
const hookKind = "track"

// execProbe runs Command from the hook directory: exit status 0 passes. The message is the last
// line of output, or why there is none.
func execProbe(runner *hooks.Runner, dir string, k Key, c Check) probe {
	timeout := c.timeout()
	return func(ctx context.Context) outcome {
		if dir == "" {
			// hooks.Resolve would take the working directory, "/" in the agent's image.
			return outcome{refused: true, message: "not run: exec checks need a hook directory"}
		}
		res := runner.Run(ctx, hooks.Job{Router: k.Router, Kind: hookKind, Command: c.Command, Timeout: timeout,
			Env: map[string]string{hooks.EnvName: k.Router, EnvCheck: k.Check}})
		line := clip(res.Output)
		switch {
		case res.Err == nil:
			return outcome{pass: true, message: line}
		case res.ExitCode < 0 && notRunnable(res.Err):
			// Refused or not started: missing, not executable, outside the hook directory, or its
			// interpreter missing. keepalived disables such a script; failing a new check for it
			// stopped the router on every node, as when the check is added before the ConfigMap that
			// holds its script has reached the nodes, which takes the kubelet up to a minute (fold).
			// The program and the cause: the error's path and wrapping would push the cause past
			// what a Result's message keeps.
			msg := res.Err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
			return outcome{refused: true, message: "not run: " + c.Command[0] + ": " + msg}
		case res.TimedOut:
			msg := fmt.Sprintf("timed out after %s", timeout)
			if line != "" {
				msg += ": " + line
			}
			return outcome{timeout: true, message: msg}
		case line != "":
			return outcome{message: line}
		case res.ExitCode > 0:
			return outcome{message: fmt.Sprintf("exit status %d", res.ExitCode)}
		}
		return outcome{message: res.Err.Error()} // refused, not started, or killed by a signal
	}
}

// notRunnable says whether a hook's error is that its program could not be run at all.
func notRunnable(err error) bool {
	return errors.Is(err, hooks.ErrOutsideHookDir) || errors.Is(err, hooks.ErrNotExecutable) ||
		errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP)
}

// maxBody bounds what an http check reads of a response body, which it only drains.
const maxBody = 4 << 10

// httpProbe GETs URL: a status in ExpectedStatus passes, or 200-399 when there is none, as kubelet
// probes. Like them it skips certificate verification (the address is on the node, its certificate
// rarely names it) and takes no proxy from the environment. Unlike them it follows no redirect: a
// 3xx is the answer, which passes unless ExpectedStatus says otherwise, so the check never leaves
// the address it was given.
func httpProbe(c Check) probe {
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:              nil,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives:  true,                                  // one probe per interval; no idle connections to hold
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       c.timeout(),
	}
	return func(ctx context.Context) outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		if err != nil {
			return outcome{message: fmt.Sprintf("GET %s: %v", c.URL, err)}
		}
		req.Header.Set("User-Agent", "vrrp-operator-track/1")
		resp, err := client.Do(req)
		if err != nil {
			return outcome{timeout: isTimeout(err), message: err.Error()}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
		pass := resp.StatusCode >= 200 && resp.StatusCode < 400
		if len(c.ExpectedStatus) > 0 {
			pass = slices.Contains(c.ExpectedStatus, resp.StatusCode)
		}
		return outcome{pass: pass, message: "HTTP " + resp.Status}
	}
}

// tcpProbe passes when a TCP connection to Address opens within the timeout.
func tcpProbe(c Check) probe {
	d := &net.Dialer{Timeout: c.timeout()}
	return func(ctx context.Context) outcome {
		conn, err := d.DialContext(ctx, "tcp", c.Address)
		if err != nil {
			return outcome{timeout: isTimeout(err), message: err.Error()}
		}
		_ = conn.Close()
		return outcome{pass: true, message: "connected to " + c.Address}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// maxFile bounds what a file check reads: a number, a sign and some white space.
const maxFile = 256

// maxFileValue bounds Result.Value. keepalived clamps a track_file's weighted value to -254..254;
// clamping the number itself to that keeps every product with a weight (at least 1 in size) on
// the same side of those bounds, and keeps the sum of many from overflowing.
const maxFileValue = 254

// fileProbe reads the integer in Path (keepalived's track_file). With a weight, any integer passes
// and becomes Result.Value, which agent/desired multiplies by the weight; without one, only 0
// passes, as keepalived puts the router in FAULT for any other.
//
// A missing file holds 0, as keepalived reads a file it cannot open (track_file.c,
// process_track_file), so a flag that a script removes, or has not written yet, neither moves the
// priority nor, without a weight, puts the router in FAULT. Other trouble fails the check where
// keepalived would read 0 too: a path that is not a regular file, or content that is not a decimal
// integer (an empty file included). keepalived parses with strtol base 0, which reads hex ("0x10" is 16), octal ("010" is
// 8, "08" is 0), stops at the first character that is not a digit ("5 up" is 5) and reads no
// digits at all as 0; here the trimmed content must be a decimal integer and nothing else, so that
// a number with a leading zero means what it says and garbage shows in the status instead of
// counting as 0.
//
// The read runs on a goroutine of its own and fails as timed out after the check's timeout (its
// interval): on a hung network mount open and read block in the kernel, where nothing interrupts
// them, and the check would otherwise keep its last state for ever and hold up the agent's Close.
// keepalived, which reads in its one thread, would hang whole. While a read stays blocked no other
// starts, and each run fails at once with the same message, so the status is not rewritten.
func fileProbe(c Check, read func(string) (int, error)) probe {
	timeout := c.timeout()
	stuck := fmt.Sprintf("reading %s: no answer within %s", c.Path, timeout)
	var blocked chan fileRead // the read that timed out, until it returns
	return func(ctx context.Context) outcome {
		if blocked != nil {
			select {
			case <-blocked: // what it read is stale: read again
				blocked = nil
			default:
				return outcome{timeout: true, message: stuck}
			}
		}
		done := make(chan fileRead, 1)
		go func() {
			v, err := read(c.Path)
			done <- fileRead{v, err}
		}()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case r := <-done:
			return fileOutcome(c, r.v, r.err)
		case <-t.C:
			blocked = done
			return outcome{timeout: true, message: stuck}
		case <-ctx.Done():
			blocked = done
			return outcome{}
		}
	}
}

type fileRead struct {
	v   int
	err error
}

// fileOutcome is the outcome of a file check that read v, or failed with err.
func fileOutcome(c Check, v int, err error) outcome {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return outcome{pass: true, reading: true, message: c.Path + " is missing: 0"}
	case errors.Is(err, errEmptyFile):
		return outcome{pass: true, reading: true, message: c.Path + " is empty: 0"}
	case err != nil:
		return outcome{reading: true, message: err.Error()}
	}
	return outcome{pass: c.Weight != 0 || v == 0, reading: true, value: v, message: fmt.Sprintf("%s holds %d", c.Path, v)}
}

// errEmptyFile is readInt's error for a file that holds nothing but white space. It counts as 0,
// as keepalived reads it: an admin's `touch flag`, or a read between the truncation and the write
// of `echo 5 > flag`, must not fail an unweighted check and put the router in FAULT.
var errEmptyFile = errors.New("the file is empty")

// readInt reads a trimmed decimal integer from path without blocking on a FIFO or a device named by
// mistake: they are refused rather than read. A hung mount blocks it all the same (see fileProbe).
func readInt(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("reading %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxFile {
		return 0, fmt.Errorf("reading %s: more than %d bytes, not a number", path, maxFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, fmt.Errorf("reading %s: %w", path, errEmptyFile)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) { // out of range: clamped below
		return 0, fmt.Errorf("reading %s: %q is not an integer", path, clip(s))
	}
	return int(min(max(v, -maxFileValue), maxFileValue)), nil
}

package hooks

import (
	"sort"
	"strings"
	"sync"
)

// hookPath is the whole search path a hook gets: the agent's own environment (service account
// tokens, proxy settings) is none of its business.
const hookPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Output kept per run: enough to see why a hook failed, small enough for a status field.
const (
	outputMaxLines = 10
	outputMaxBytes = 1024
)

// environ builds the hook's whole environment: PATH plus env, sorted so runs are reproducible.
// Names that cannot be environment variables are skipped rather than failing the hook.
func environ(env map[string]string) []string {
	e := []string{hookPath}
	for k, v := range env {
		if k == "" || k == "PATH" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			continue
		}
		e = append(e, k+"="+v)
	}
	sort.Strings(e[1:])
	return e
}

// tail keeps the end of a hook's output.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Trim now and then rather than on every write, so a chatty hook costs linear time.
	if len(t.buf) > 4*outputMaxBytes {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-outputMaxBytes:]...)
	}
	return len(p), nil
}

// String returns at most the last outputMaxLines lines and outputMaxBytes bytes.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(string(t.buf), "\n")
	if len(s) > outputMaxBytes {
		s = s[len(s)-outputMaxBytes:]
	}
	if lines := strings.Split(s, "\n"); len(lines) > outputMaxLines {
		s = strings.Join(lines[len(lines)-outputMaxLines:], "\n")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

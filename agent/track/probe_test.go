package track

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
)

func TestAnHTTPCheckPassesOnTheExpectedStatus(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fine")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	})
	var elsewhere atomic.Int32
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/flood", func(w http.ResponseWriter, _ *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1000 { // 64 MiB unless the client hangs up
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(block)
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	tests := map[string]struct {
		url      string
		expected []int
		want     State
		message  string
		result   string
	}{
		"a 200 passes": {url: srv.URL + "/ok", want: Passing, message: "HTTP 200 OK", result: metrics.RunPassed},
		"a 503 fails":  {url: srv.URL + "/down", want: Failing, message: "HTTP 503 Service Unavailable", result: metrics.RunFailed},
		"a status outside the expected ones fails":            {url: srv.URL + "/ok", expected: []int{204}, want: Failing, message: "HTTP 200 OK", result: metrics.RunFailed},
		"an expected status passes even outside 200-399":      {url: srv.URL + "/down", expected: []int{503}, want: Passing, message: "HTTP 503 Service Unavailable", result: metrics.RunPassed},
		"a redirect is the answer, not followed":              {url: srv.URL + "/moved", want: Passing, message: "HTTP 302 Found", result: metrics.RunPassed},
		"a redirect fails when only 200 is expected":          {url: srv.URL + "/moved", expected: []int{200}, want: Failing, message: "HTTP 302 Found", result: metrics.RunFailed},
		"https passes without verifying the certificate":      {url: tlsSrv.URL + "/created", want: Passing, message: "HTTP 201 Created", result: metrics.RunPassed},
		"a server that never answers fails at the timeout":    {url: srv.URL + "/hang", want: Failing, message: "Client.Timeout exceeded", result: metrics.RunTimeout},
		"a body that never ends is not read to its end":       {url: srv.URL + "/flood", want: Passing, message: "HTTP 200 OK", result: metrics.RunPassed},
		"a URL that cannot be parsed fails with why":          {url: "http://[bad", want: Failing, message: "missing ']'", result: metrics.RunFailed},
		"a closed port fails at once with connection refused": {url: "http://" + closedPort(t), want: Failing, message: "connection refused", result: metrics.RunFailed},
	}
	h := newHarness(t, Options{})
	want := map[string][]Check{}
	for name, tc := range tests {
		// Only the server that never answers meets the timeout; the others get time for a TLS
		// handshake on a loaded machine.
		timeout := bound
		if tc.result == metrics.RunTimeout {
			timeout = 200 * time.Millisecond
		}
		want["web"] = append(want["web"], Check{Name: name, Kind: KindHTTP, URL: tc.url, ExpectedStatus: tc.expected,
			Interval: time.Second, Timeout: timeout, Rise: 1, Fall: 1})
	}
	h.m.Sync(want)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := h.next(Key{Router: "web", Check: name})
			if got.State != tc.want || !strings.Contains(got.Message, tc.message) {
				t.Errorf("state %v message %q; want %v with %q", got.State, got.Message, tc.want, tc.message)
			}
			if n := value(h.metrics.TrackRuns.WithLabelValues("web", name, tc.result)); n != 1 {
				t.Errorf("%s{result=%q} = %v, want 1", metrics.TrackRuns, tc.result, n)
			}
		})
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

// closedPort returns the address of a TCP port on this host that was just listened on and closed.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestATCPCheckPassesWhenItConnects(t *testing.T) {
	l, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	tests := map[string]struct {
		addr    string
		want    State
		message string
	}{
		"an open port passes":             {addr: l.Addr().String(), want: Passing, message: "connected to " + l.Addr().String()},
		"a closed port fails":             {addr: closedPort(t), want: Failing, message: "connection refused"},
		"an address without a port fails": {addr: "localhost", want: Failing, message: "missing port"},
	}
	h := newHarness(t, Options{})
	want := map[string][]Check{}
	for name, tc := range tests {
		want["web"] = append(want["web"], Check{Name: name, Kind: KindTCP, Address: tc.addr,
			Interval: time.Second, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1})
	}
	h.m.Sync(want)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := h.next(Key{Router: "web", Check: name})
			if got.State != tc.want || !strings.Contains(got.Message, tc.message) {
				t.Errorf("state %v message %q; want %v with %q", got.State, got.Message, tc.want, tc.message)
			}
		})
	}
}

func TestAFileCheckReadsAnInteger(t *testing.T) {
	dir := t.TempDir()
	path := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path    string
		weight  int
		want    State
		value   int
		message string
	}{
		"a weighted number passes and gives its value":                 {path: path("five", "5\n"), weight: 10, want: Passing, value: 5, message: "holds 5"},
		"a weighted negative number passes too":                        {path: path("minus", "  -3 "), weight: 10, want: Passing, value: -3},
		"a weighted zero passes with value 0":                          {path: path("zero-w", "0"), weight: 10, want: Passing, value: 0},
		"without a weight zero passes":                                 {path: path("zero", "0\n"), want: Passing, value: 0},
		"without a weight any other number fails":                      {path: path("seven", "7"), want: Failing, value: 7, message: "holds 7"},
		"a weighted missing file passes as 0, as keepalived reads it":  {path: filepath.Join(dir, "missing"), weight: 10, want: Passing, value: 0, message: filepath.Join(dir, "missing") + " is missing: 0"},
		"without a weight a missing file passes as 0":                  {path: filepath.Join(dir, "missing"), want: Passing, value: 0, message: "is missing: 0"},
		"a file in a missing directory passes as 0":                    {path: filepath.Join(dir, "nodir", "flag"), want: Passing, value: 0, message: "is missing: 0"},
		"a path through a file fails: only a missing file counts as 0": {path: filepath.Join(path("plain", "1"), "flag"), want: Failing, message: "not a directory"},
		"garbage fails":                                   {path: path("garbage", "up\n"), weight: 10, want: Failing, message: `"up" is not an integer`},
		"hex fails, unlike keepalived's strtol":           {path: path("hex", "0x10"), weight: 1, want: Failing, message: `"0x10" is not an integer`},
		"trailing text fails, unlike keepalived's strtol": {path: path("trailing", "5 up"), weight: 1, want: Failing, message: `"5 up" is not an integer`},
		"a leading zero is decimal, not octal":            {path: path("octal", "010\n"), weight: 1, want: Passing, value: 10, message: "holds 10"},
		"an empty file reads 0, as keepalived's":          {path: path("empty", ""), weight: 10, want: Passing, value: 0, message: "is empty: 0"},
		"without a weight an empty file passes as 0":      {path: path("blank", " \n"), want: Passing, value: 0, message: "is empty: 0"},
		"a huge number is clamped to keepalived's bounds": {path: path("huge", "99999999999999999999999"), weight: 1, want: Passing, value: 254},
		"a long file is refused, not read whole":          {path: path("long", strings.Repeat("1", 100000)), weight: 1, want: Failing, message: "more than 256 bytes"},
		"a FIFO is refused without blocking":              {path: fifo, weight: 1, want: Failing, message: "not a regular file"},
		"a directory is refused":                          {path: dir, weight: 1, want: Failing, message: "not a regular file"},
	}
	h := newHarness(t, Options{})
	want := map[string][]Check{}
	for name, tc := range tests {
		want["web"] = append(want["web"], Check{Name: name, Kind: KindFile, Path: tc.path, Weight: tc.weight,
			Interval: time.Second, Rise: 1, Fall: 1})
	}
	h.m.Sync(want)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := h.next(Key{Router: "web", Check: name})
			if got.State != tc.want || got.Value != tc.value || !strings.Contains(got.Message, tc.message) {
				t.Errorf("state %v value %d message %q; want %v, %d, with %q", got.State, got.Value, got.Message, tc.want, tc.value, tc.message)
			}
		})
	}
}

func TestAFileCheckFollowsTheNumberWhilePassing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "weight")
	writeFile(t, p, "2")
	h := newHarness(t, Options{})
	k := Key{Router: "web", Check: "flag"}
	h.m.Sync(map[string][]Check{"web": {{Name: "flag", Kind: KindFile, Path: p, Weight: -10, Interval: time.Second, Rise: 1, Fall: 3}}})
	if got := h.next(k); got.State != Passing || got.Value != 2 {
		t.Fatalf("first read: %+v, want Passing with 2", got)
	}

	// Each step: what the file holds ("" removes it), then the Result after the next read. Since
	// stays at the first read throughout: the state never changes.
	steps := []struct {
		name    string
		content string
		want    Result
	}{
		{"a new number counts at once, and the message says it", "3",
			Result{State: Passing, Since: t0, Value: 3, Message: p + " holds 3"}},
		{"the same number rewrites nothing", "3",
			Result{State: Passing, Since: t0, Value: 3, Message: p + " holds 3"}},
		{"a removed file holds 0", "",
			Result{State: Passing, Since: t0, Value: 0, Message: p + " is missing: 0"}},
		{"a number again", "4",
			Result{State: Passing, Since: t0, Value: 4, Message: p + " holds 4"}},
		{"one bad read of fall 3 keeps the number and its message", "up",
			Result{State: Passing, Since: t0, Value: 4, Message: p + " holds 4"}},
	}
	for _, s := range steps {
		if s.content == "" {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		} else {
			writeFile(t, p, s.content)
		}
		h.step(time.Second)
		if diff := cmp.Diff(s.want, h.next(k)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
}

// hungRead stands in for a file on a hung network mount: the first read blocks until release is
// closed and then reads first; every later read returns later at once.
type hungRead struct {
	release chan struct{}
	first   int
	later   int
	reads   atomic.Int32
}

func (h *hungRead) read(string) (int, error) {
	if h.reads.Add(1) == 1 {
		<-h.release
		return h.first, nil
	}
	return h.later, nil
}

func TestAFileCheckOnAHungMountFailsAtItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &hungRead{release: make(chan struct{}), first: 1, later: 2}
		c := Check{Name: "flag", Kind: KindFile, Path: "/mnt/nfs/flag", Weight: 10, Interval: time.Second, Timeout: 300 * time.Millisecond}
		p := fileProbe(c, h.read)
		const stuck = "reading /mnt/nfs/flag: no answer within 300ms"

		start := time.Now()
		if o := p(t.Context()); o.pass || !o.timeout || o.message != stuck {
			t.Errorf("a read that hangs: %+v, want a timeout saying %q", o, stuck)
		}
		if d := time.Since(start); d != c.Timeout {
			t.Errorf("a read that hangs failed after %v, want its timeout %v", d, c.Timeout)
		}

		// While it stays blocked, runs fail at once with the same message (no status rewrite)
		// and start no other read: a hung mount would take a goroutine each.
		start = time.Now()
		if o := p(t.Context()); o.pass || !o.timeout || o.message != stuck {
			t.Errorf("a run while the read is still blocked: %+v, want a timeout saying %q", o, stuck)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("a run while the read is still blocked took %v, want none", d)
		}
		if n := h.reads.Load(); n != 1 {
			t.Errorf("%d reads while the first is blocked, want 1", n)
		}

		// Once the mount answers, what the blocked read got is stale: the next run reads again.
		close(h.release)
		synctest.Wait()
		if o := p(t.Context()); !o.pass || o.value != h.later {
			t.Errorf("the run after the mount answered: %+v, want a pass with %d", o, h.later)
		}
		if n := h.reads.Load(); n != 2 {
			t.Errorf("%d reads, want 2", n)
		}
	})
}

func TestAHungFileCheckFailsAndDoesNotHoldUpClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hung := &hungRead{release: make(chan struct{})}
		h := newHarness(t, Options{readFile: hung.read})
		k := Key{Router: "web", Check: "flag"}
		h.m.Sync(map[string][]Check{"web": {{Name: "flag", Kind: KindFile, Path: "/mnt/nfs/flag", Weight: -10,
			Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}}})
		if got := h.next(k); got.State != Failing || got.Message != "reading /mnt/nfs/flag: no answer within 1s" {
			t.Errorf("a file check whose read hangs: %+v, want Failing at its timeout", got)
		}
		if got := value(h.metrics.TrackRuns.WithLabelValues("web", "flag", metrics.RunTimeout)); got != 1 {
			t.Errorf("timed out runs: %v, want 1", got)
		}
		// The read is still blocked in the kernel; Close returns regardless (else the bubble
		// deadlocks and the test fails).
		h.m.Close()
		close(hung.release)
	})
}

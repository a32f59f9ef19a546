package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Lab is a set of network namespaces joined by a bridge that lives in a namespace of its own, so
// nothing a test does touches the host's network. Addresses must come from the documentation prefixes
// (198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
type Lab struct {
	t      testing.TB
	id     string
	Switch string // namespace that holds the bridge br0
	hosts  int
}

// Host is one network namespace of a Lab, with one interface joined to the bridge.
type Host struct {
	lab  *Lab
	Name string // network namespace name
	Link string // interface name inside the namespace
	MAC  string
}

// NewLab creates the switch namespace. Everything it makes is removed when the test ends, pass or fail.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l := &Lab{t: t, id: hex.EncodeToString(b)}
	l.Switch = "vrrpt-" + l.id + "-sw"
	l.ip("netns", "add", l.Switch)
	t.Cleanup(func() { l.del(l.Switch) })
	l.ip("-n", l.Switch, "link", "add", "br0", "type", "bridge")
	// Multicast snooping would delay the first VRRP adverts until a querier exists.
	l.ip("-n", l.Switch, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
	l.ip("-n", l.Switch, "link", "set", "br0", "up")
	return l
}

// Host adds a namespace with interface link (e.g. "eth0", "ens3") on the bridge, up, with addrs
// (CIDR strings) assigned.
func (l *Lab) Host(link string, addrs ...string) *Host {
	l.t.Helper()
	l.hosts++
	h := &Host{lab: l, Name: fmt.Sprintf("vrrpt-%s-h%d", l.id, l.hosts), Link: link}
	l.ip("netns", "add", h.Name)
	l.t.Cleanup(func() { l.del(h.Name) })
	peer := fmt.Sprintf("v%s%d", l.id, l.hosts)
	l.ip("-n", h.Name, "link", "add", link, "type", "veth", "peer", "name", peer, "netns", l.Switch)
	l.ip("-n", l.Switch, "link", "set", peer, "master", "br0", "up")
	l.ip("-n", h.Name, "link", "set", "lo", "up")
	for _, a := range addrs {
		args := []string{"-n", h.Name, "addr", "add", a, "dev", link}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		l.ip(args...)
	}
	l.ip("-n", h.Name, "link", "set", link, "up")
	out := l.ip("-n", h.Name, "-br", "link", "show", link)
	if f := strings.Fields(out); len(f) >= 3 {
		h.MAC = f[2]
	}
	return h
}

// Uplink joins the test process's own network namespace to the bridge with addr (a CIDR from a
// documentation prefix) on a veth pair, so that servers the test starts on the host (a
// kube-apiserver) are reachable from the lab's namespaces. It returns the host-side interface
// name; removing the switch namespace at cleanup removes the pair.
func (l *Lab) Uplink(addr string) string {
	l.t.Helper()
	name := "vrrpt" + l.id + "u"
	l.ip("link", "add", name, "type", "veth", "peer", "name", "u"+l.id, "netns", l.Switch)
	l.t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	l.ip("-n", l.Switch, "link", "set", "u"+l.id, "master", "br0", "up")
	l.ip("addr", "add", addr, "dev", name)
	l.ip("link", "set", name, "up")
	return name
}

// IP runs `ip -n HOST args...` and fails the test on error.
func (h *Host) IP(args ...string) string {
	h.lab.t.Helper()
	return h.lab.ip(append([]string{"-n", h.Name}, args...)...)
}

// Command returns a command that runs inside the namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Do runs f on an OS thread switched into the namespace. Sockets and netlink handles opened inside f
// stay in the namespace after f returns.
func (h *Host) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it may be left in the namespace if switching back fails, and a
		// locked goroutine that exits takes its thread with it.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("getting current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.Name)
		if err != nil {
			errc <- fmt.Errorf("opening namespace %s: %w", h.Name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("entering namespace %s: %w", h.Name, err)
			return
		}
		errc <- f()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

func (l *Lab) ip(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// del removes a namespace after killing whatever still runs in it, so a failed test leaves nothing.
func (l *Lab) del(name string) {
	if pids, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, p := range strings.Fields(string(pids)) {
			_ = exec.Command("kill", "-9", p).Run()
		}
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		l.t.Logf("removing namespace %s: %v: %s", name, err, out)
	}
}

// WaitLinkLocal waits until link in h has a link-local IPv6 address that finished duplicate address
// detection. IPv6 on a link starts only once the kernel has seen it operationally up, which it does
// asynchronously, and a tentative address cannot be a source; nothing signals either, so this
// polls, within a deadline.
func (h *Host) WaitLinkLocal(t testing.TB, link string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ready := h.IP("-6", "-o", "addr", "show", "dev", link, "scope", "link", "-tentative")
		tentative := h.IP("-6", "-o", "addr", "show", "dev", link, "tentative")
		if strings.TrimSpace(ready) != "" && strings.TrimSpace(tentative) == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable link-local address on %s in %s after 10s", link, h.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sysctl sets /proc/sys/key inside h: the files under /proc/sys/net belong to the network
// namespace of the thread that opens them.
func (h *Host) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	if err := h.Do(func() error {
		return os.WriteFile("/proc/sys/"+key, []byte(value), 0o644)
	}); err != nil {
		t.Fatalf("setting %s in %s: %v", key, h.Name, err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// poll is how often the tests look at addresses: failover times are measured to about this.
const poll = 10 * time.Millisecond

// node is a host of the lab with a netlink handle into its namespace, to watch its addresses
// every few milliseconds without starting a process each time.
type node struct {
	*testenv.Host
	t    testing.TB
	nl   *netlink.Handle
	link netlink.Link
}

func newNode(t testing.TB, lab *testenv.Lab, link string, addrs ...string) *node {
	t.Helper()
	h := lab.Host(link, addrs...)
	ns, err := netns.GetFromName(h.Name)
	if err != nil {
		t.Fatalf("opening namespace %s: %v", h.Name, err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("opening netlink in %s: %v", h.Name, err)
	}
	t.Cleanup(nl.Close)
	l, err := nl.LinkByName(link)
	if err != nil {
		t.Fatalf("looking up %s in %s: %v", link, h.Name, err)
	}
	return &node{Host: h, t: t, nl: nl, link: l}
}

// has reports whether the node's interface holds a.
func (n *node) has(a netip.Addr) bool {
	addrs, err := n.nl.AddrList(n.link, netlink.FAMILY_ALL)
	if err != nil {
		n.t.Errorf("listing addresses of %s in %s: %v", n.Link, n.Name, err)
		return false
	}
	for _, x := range addrs {
		if got, ok := netip.AddrFromSlice(x.IP); ok && got.Unmap() == a {
			return true
		}
	}
	return false
}

// String names the node in messages.
func (n *node) String() string { return n.Name + "/" + n.Link }

// pollUntil polls cond every poll until it holds, or returns false after timeout.
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
	}
}

// waitFor polls cond until it holds and returns how long after since that was; it fails the test
// after timeout.
func waitFor(t testing.TB, since time.Time, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	if !pollUntil(timeout, cond) {
		t.Fatalf("%s: not after %s", what, timeout)
	}
	return time.Since(since)
}

// waitOwner waits until owner holds vip and none of the others does, and returns when, after since.
func waitOwner(t testing.TB, since time.Time, timeout time.Duration, vip netip.Addr, owner *node, others ...*node) time.Duration {
	t.Helper()
	if !pollUntil(timeout, func() bool { return soleOwner(vip, owner, others) }) {
		t.Fatalf("%s should hold %s alone within %s; holders are: %s", owner, vip, timeout, holders(vip, append([]*node{owner}, others...)))
	}
	return time.Since(since)
}

func soleOwner(vip netip.Addr, owner *node, others []*node) bool {
	if !owner.has(vip) {
		return false
	}
	for _, o := range others {
		if o.has(vip) {
			return false
		}
	}
	return true
}

// holders names the nodes that hold vip now.
func holders(vip netip.Addr, nodes []*node) string {
	var h []string
	for _, n := range nodes {
		if n.has(vip) {
			h = append(h, n.String())
		}
	}
	if len(h) == 0 {
		return "none"
	}
	return strings.Join(h, ", ")
}

// holdsAlone checks for d that owner keeps vip and no other node takes it, while a client sends
// ARP requests (IPv4) or neighbor solicitations (IPv6) for vip and sees exactly the owner's MAC
// answer.
func holdsAlone(t testing.TB, d time.Duration, vip netip.Addr, client, owner *node, others ...*node) {
	t.Helper()
	var macs []string
	var arpErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		macs, arpErr = neighborMACs(client, vip, d)
	}()
	end := time.Now().Add(d)
	var violation string
	for time.Now().Before(end) && violation == "" {
		if !soleOwner(vip, owner, others) {
			violation = fmt.Sprintf("%s should hold %s alone, holders are: %s", owner, vip, holders(vip, append([]*node{owner}, others...)))
		}
		time.Sleep(2 * poll)
	}
	wg.Wait()
	if violation != "" {
		t.Fatal(violation)
	}
	if arpErr != nil {
		t.Fatal(arpErr)
	}
	if want := []string{owner.MAC}; !slices.Equal(macs, want) {
		t.Fatalf("MACs answering ARP or ND for %s from %s = %v, want only %s's %v", vip, client, macs, owner, want)
	}
}

var (
	arpingOnce   sync.Once
	arpingHabets bool
	macRE        = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b`)
)

// arpMACs sends ARP requests for ip from client for about d and returns the distinct MACs that
// answered, sorted. It works with both arping programs Debian ships: Thomas Habets' (package
// arping) and iputils-arping, whose flags differ.
func arpMACs(client *node, ip netip.Addr, d time.Duration) ([]string, error) {
	arpingOnce.Do(func() {
		out, _ := exec.Command("arping", "--help").CombinedOutput()
		arpingHabets = strings.Contains(string(out), "Habets")
	})
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	var args []string
	if arpingHabets {
		// -W: seconds between requests; -w: overall deadline.
		args = []string{"-i", client.Link, "-c", fmt.Sprint(max(int(d/(200*time.Millisecond)), 1)), "-W", "0.2", "-w", fmt.Sprint(secs)}
	} else {
		args = []string{"-I", client.Link, "-c", fmt.Sprint(secs), "-w", fmt.Sprint(secs)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer cancel()
	out, _ := client.Command(ctx, "arping", append(args, ip.String())...).CombinedOutput()
	seen := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, ip.String()) {
			continue
		}
		for _, m := range macRE.FindAllString(line, -1) {
			seen[strings.ToLower(m)] = true
		}
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no ARP reply for %s from %s: arping %s said:\n%s", ip, client, strings.Join(args, " "), out)
	}
	macs := make([]string, 0, len(seen))
	for m := range seen {
		macs = append(macs, m)
	}
	slices.Sort(macs)
	return macs, nil
}

// waitLinkLocal waits until the node's link-local address has finished duplicate address
// detection: IPv6 VRRP is sent from it and a tentative address cannot be a source.
func waitLinkLocal(t testing.TB, n *node) {
	t.Helper()
	waitFor(t, time.Now(), 10*time.Second, "usable link-local address on "+n.String(), func() bool {
		addrs, err := n.nl.AddrList(n.link, netlink.FAMILY_V6)
		if err != nil {
			return false
		}
		ok := false
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
					return false
				}
				ok = true
			}
		}
		return ok
	})
}

// masterDownInterval is RFC 9568 §6.1's Master_Down_Interval of a Backup of priority prio for
// adverts every interval (RFC 3768 §6.1 for version 2).
func masterDownInterval(version int, interval time.Duration, prio int) time.Duration {
	skew := time.Duration(256-prio) * interval / 256
	if version == 2 {
		skew = time.Duration(256-prio) * time.Second / 256
	}
	return 3*interval + skew
}

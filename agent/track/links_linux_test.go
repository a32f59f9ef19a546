package track

import (
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/vishvananda/netns"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

type linkReport struct {
	up     bool
	detail string
}

// nextReport waits for the next report of a watch.
func nextReport(t *testing.T, c <-chan linkReport) linkReport {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(bound):
		t.Fatalf("no link report within %s", bound)
		return linkReport{}
	}
}

// reportUntil waits for a report equal to want, skipping the ones before it: the kernel may pass
// through intermediate operational states.
func reportUntil(t *testing.T, c <-chan linkReport, want linkReport) {
	t.Helper()
	var seen []linkReport
	deadline := time.After(bound)
	for {
		select {
		case r := <-c:
			if r == want {
				return
			}
			seen = append(seen, r)
		case <-deadline:
			t.Fatalf("no report %+v within %s; saw %+v", want, bound, seen)
		}
	}
}

func TestNetlinkLinksFollowARealLink(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	// A second link with no address at all, as keepalived's track_interface looks at the link only:
	// a veth pair whose peer gives or takes its carrier.
	host.IP("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	ns, err := netns.GetFromName(host.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	links := NewNetlinkLinksAt(ns, testr.New(t))

	eth1 := make(chan linkReport, 100)
	cancel1 := links.Watch("eth1", func(up bool, detail string) { eth1 <- linkReport{up, detail} })
	defer cancel1()
	if got, want := nextReport(t, eth1), (linkReport{false, "link eth1 is down"}); got != want {
		t.Fatalf("first report %+v, want %+v", got, want)
	}
	steps := []struct {
		do   [][]string
		want linkReport
	}{
		{[][]string{{"link", "set", "eth1", "up"}}, linkReport{false, "link eth1 has no carrier (lower-layer-down)"}},
		{[][]string{{"link", "set", "eth1p", "up"}}, linkReport{true, "link eth1 is up"}},
		{[][]string{{"link", "set", "eth1p", "down"}}, linkReport{false, "link eth1 has no carrier (lower-layer-down)"}},
		{[][]string{{"link", "set", "eth1", "down"}}, linkReport{false, "link eth1 is down"}},
		{[][]string{{"link", "del", "eth1"}}, linkReport{false, "interface eth1 not found"}},
		// Created again under the same name, with a new index.
		{[][]string{{"link", "add", "eth1", "up", "type", "veth", "peer", "name", "eth1p"}, {"link", "set", "eth1p", "up"}},
			linkReport{true, "link eth1 is up"}},
	}
	for _, s := range steps {
		for _, args := range s.do {
			host.IP(args...)
		}
		reportUntil(t, eth1, s.want)
	}

	// A second watch shares the subscription and gets its own first report at once.
	eth0 := make(chan linkReport, 100)
	cancel0 := links.Watch("eth0", func(up bool, detail string) { eth0 <- linkReport{up, detail} })
	if got, want := nextReport(t, eth0), (linkReport{true, "link eth0 is up"}); got != want {
		t.Errorf("eth0: %+v, want %+v", got, want)
	}
	host.IP("link", "set", "eth0", "down")
	reportUntil(t, eth0, linkReport{false, "link eth0 is down"})
	cancel0()
	cancel1()
	links.mu.Lock()
	running := links.stop != nil
	links.mu.Unlock()
	if running {
		t.Error("the subscription outlived the last watch")
	}
	host.IP("link", "set", "eth1", "down")
	select {
	case r := <-eth1:
		t.Errorf("a report after cancel: %+v", r)
	default:
	}
}

func TestAnInterfaceCheckOnARealLinkInANamespace(t *testing.T) {
	host := testenv.NewLab(t).Host("eth0", "198.51.100.1/24")
	host.IP("link", "add", "uplink", "type", "veth", "peer", "name", "uplinkp")
	host.IP("link", "set", "uplinkp", "up")
	host.IP("link", "set", "uplink", "up")
	ns, err := netns.GetFromName(host.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	changed := make(chan struct{}, 1)
	m := NewManager(Options{Links: NewNetlinkLinksAt(ns, testr.New(t)), Log: testr.New(t),
		OnChange: func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}})
	defer m.Close()
	k := Key{Router: "web", Check: "uplink"}
	m.Sync(map[string][]Check{"web": {{Name: "uplink", Kind: KindInterface, Interface: "uplink", Weight: -50}}})

	wait := func(want State) {
		t.Helper()
		for {
			if got := m.Results()[k]; got.State == want {
				return
			}
			select {
			case <-changed:
			case <-time.After(bound):
				t.Fatalf("the check did not become %v within %s: %+v", want, bound, m.Results()[k])
			}
		}
	}
	wait(Passing)
	start := time.Now()
	host.IP("link", "set", "uplink", "down")
	wait(Failing)
	took := time.Since(start)
	if got := m.Results()[k].Message; got != "link uplink is down" {
		t.Errorf("message %q", got)
	}
	testenv.Report(t, "track: an interface check failed %s after the start of `ip link set down` (the command included)", took)
}

package e2e

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// BenchmarkFailover measures, on real agents in network namespaces, how long the VIP takes to
// move to the Backup: ns/op is the time from the Master's signal to the Backup holding the VIP
// (restarting the Master between rounds is not timed). `make bench` runs it a few times:
//
//	go test -run=NONE -bench=Failover -benchtime=10x ./test/e2e
func BenchmarkFailover(b *testing.B) {
	requireLab(b)
	for _, bc := range []struct {
		name     string
		interval string
		version  int
		kill     bool
	}{
		{name: "v2 1s graceful (SIGTERM), the seed", interval: "1s", version: 2},
		{name: "v3 100ms graceful (SIGTERM)", interval: "100ms", version: 3},
		{name: "v3 100ms unplanned (SIGKILL)", interval: "100ms", version: 3, kill: true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lab := testenv.NewLab(b)
			primary := newNode(b, lab, "ens3", seedPrimary)
			secondary := newNode(b, lab, "eth0", seedSecondary)
			config := writeManifests(b, []vipSpec{{name: "services", vrid: 51, version: bc.version,
				addresses: []string{"198.51.100.252/24"}, interval: bc.interval, priorities: map[string]int{"primary": 150}}}, nil)
			interval, err := time.ParseDuration(bc.interval)
			if err != nil {
				b.Fatal(err)
			}
			mdi := masterDownInterval(bc.version, interval, 100)
			pa := startAgent(b, primary, "primary", config, agentOptions{})
			startAgent(b, secondary, "secondary", config, agentOptions{})
			vip := netip.MustParseAddr("198.51.100.252")
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				waitOwner(b, time.Now(), 2*mdi+10*time.Second, vip, primary, secondary)
				b.StartTimer()
				if bc.kill {
					pa.kill()
				} else {
					pa.sigterm()
				}
				waitFor(b, time.Now(), mdi+5*time.Second, "secondary takes the VIP", func() bool { return secondary.has(vip) })
				b.StopTimer()
				if bc.kill {
					// The killed agent's VIP stays until its lifetime ends or the next agent removes it.
					pa.start()
				} else {
					pa.waitExit()
					pa.start()
				}
				b.StartTimer()
			}
		})
	}
}

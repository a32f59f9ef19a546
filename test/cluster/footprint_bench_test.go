package cluster

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// BenchmarkClusterFootprint is test/footprint's BenchmarkFootprint in cluster mode: the agents
// with their informers, status writer and default flags (--resync 10s), against the real
// kube-apiserver of TestCluster's lab, with 250 VirtualIPs at 1 s adverts (VRIDs 1 to 250, one
// VIP each, primary preferred). After every VirtualIP settled (primary MASTER, the two others
// BACKUP, in status), it measures each agent's CPU in percent of one core over 15 s (the
// scheduler's run time, testenv.CPUTime) and its resident memory at the end, and counts the
// mutating requests of agents and controller meanwhile:
//
//	VRRP_REQUIRE_PRIVILEGED=1 go test -run=NONE -bench=ClusterFootprint -benchtime=1x ./test/cluster
func BenchmarkClusterFootprint(b *testing.B) {
	const (
		routers  = 250
		interval = time.Second
		window   = 15 * time.Second
	)
	testenv.RequireRoot(b)
	s := newSeedLabArgs(b)
	cs, err := kubernetes.NewForConfig(s.cfg)
	must(b, err)
	l := &benchLab{seedLab: s, testWrites: &writeCounter{}, metrics: cs.CoreV1().RESTClient()}
	start := time.Now()
	for i := 1; i <= routers; i++ {
		v := &vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fp-%03d", i)}, Spec: vrrpv1.VirtualIPSpec{
			VirtualRouterID: int32(i), Addresses: []string{fmt.Sprintf("198.51.100.%d/24", i)},
			AdvertInterval: &metav1.Duration{Duration: interval},
			NodePriorities: []vrrpv1.NodePriority{{Node: "primary", Priority: 150}},
		}}
		must(b, s.c.Create(s.ctx, v))
	}
	settled := func() (bool, string) {
		var vips vrrpv1.VirtualIPList
		if err := s.c.List(s.ctx, &vips); err != nil {
			return false, err.Error()
		}
		for _, v := range vips.Items {
			if v.Status.Master != "primary" || len(v.Status.Nodes) != 3 {
				return false, fmt.Sprintf("%s: master %q, %d entries", v.Name, v.Status.Master, len(v.Status.Nodes))
			}
			for _, e := range v.Status.Nodes {
				if (e.Node == "primary") != (e.State == vrrpv1.StateMaster) || (e.Node != "primary" && e.State != vrrpv1.StateBackup) {
					return false, fmt.Sprintf("%s: %s is %s", v.Name, e.Node, e.State)
				}
			}
		}
		return len(vips.Items) == routers, fmt.Sprintf("%d VirtualIPs", len(vips.Items))
	}
	deadline := time.Now().Add(5 * time.Minute)
	for ok, detail := settled(); !ok; ok, detail = settled() {
		if time.Now().After(deadline) {
			b.Fatalf("%d VirtualIPs did not settle within 5 minutes: %s", routers, detail)
		}
		time.Sleep(time.Second)
	}
	b.Logf("%d VirtualIPs settled in status %v after their creation", routers, time.Since(start).Round(100*time.Millisecond))
	time.Sleep(10 * time.Second) // the Events and announcements of the start are over

	before := l.apiWrites(b)
	ctrlBefore := l.controllerWrites.snapshot()
	cpuBefore := map[string]time.Duration{}
	for name, a := range s.agents {
		cpuBefore[name] = cpuTime(b, a.cmd.Process.Pid)
	}
	b.ResetTimer()
	time.Sleep(window)
	b.StopTimer()
	cpu, rss := map[string]float64{}, map[string]float64{}
	for name, a := range s.agents {
		cpu[name] = 100 * float64(cpuTime(b, a.cmd.Process.Pid)-cpuBefore[name]) / float64(window)
		rss[name] = rssMiB(b, a.cmd.Process.Pid)
	}
	writes := testenv.CountTotal(testenv.CountDiff(l.apiWrites(b), before))
	ctrl := testenv.CountTotal(testenv.CountDiff(l.controllerWrites.snapshot(), ctrlBefore))
	backupCPU := (cpu["secondary"] + cpu["third"]) / 2
	backupRSS := (rss["secondary"] + rss["third"]) / 2
	b.ReportMetric(cpu["primary"], "master-cpu-%")
	b.ReportMetric(rss["primary"], "master-rss-MiB")
	b.ReportMetric(backupCPU, "backup-cpu-%")
	b.ReportMetric(backupRSS, "backup-rss-MiB")
	b.ReportMetric(float64(writes), "writes")
	b.ReportMetric(0, "ns/op")
	report(b, "footprint: %d VirtualIPs at %v in cluster mode: master %.2f %% CPU %.1f MiB, backups %.2f %% CPU %.1f MiB (%.2f and %.2f %%), %d mutating requests in %v (controller %d)",
		routers, interval, cpu["primary"], rss["primary"], backupCPU, backupRSS, cpu["secondary"], cpu["third"], writes, window, ctrl)
	version := projectVersion()
	row := func(scenario string, v float64, unit string) testenv.BenchRow {
		return testenv.NewBenchRow(scenario, "vrrp-operator (cluster)", version, interval, routers, []float64{v}, unit)
	}
	testenv.WriteBenchRows(b, row("footprint cpu master", cpu["primary"], "%"), row("footprint rss master", rss["primary"], "MiB"),
		row("footprint cpu backup", backupCPU, "%"), row("footprint rss backup", backupRSS, "MiB"))
}

// cpuTime is the CPU time pid has used (testenv.CPUTime).
func cpuTime(b *testing.B, pid int) time.Duration {
	b.Helper()
	used, err := testenv.CPUTime(pid)
	if err != nil {
		b.Fatalf("reading the agent's CPU time: %v", err)
	}
	return used
}

// rssMiB is pid's VmRSS.
func rssMiB(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("reading the agent's memory: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatalf("parsing %q: %v", line, err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

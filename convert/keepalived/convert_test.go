package keepalived

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var seedNodes = []Node{
	{Name: "primary", File: filepath.Join("testdata", "seed", "primary.conf")},
	{Name: "secondary", File: filepath.Join("testdata", "seed", "secondary.conf")},
}

// load reads a YAML stream as the standalone agent does, which also applies the CRD's defaults,
// so that manifests that differ only in defaulted fields compare equal.
func load(t *testing.T, data []byte) manifests.Objects {
	t.Helper()
	objs, err := manifests.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("loading:\n%s\n%v", data, err)
	}
	return objs
}

func yamlOf(t *testing.T, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteYAML(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSeedConvertsToTheSamples converts the seed's two keepalived.conf files (master and backup,
// differing in priority, state and interface) and holds the result to config/samples: the same
// VirtualIP spec and Secret, both for kubectl and for the standalone agent.
func TestSeedConvertsToTheSamples(t *testing.T) {
	res, err := Convert(Options{Nodes: seedNodes, Names: map[string]string{"VI_1": "services"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete() {
		t.Errorf("the seed converts with directives not converted: %v", res.Findings)
	}
	got := load(t, yamlOf(t, res))
	for _, sample := range []string{"vrrp_v1alpha1_virtualip.yaml", "standalone-seed.yaml"} {
		t.Run(sample, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", sample))
			if err != nil {
				t.Fatal(err)
			}
			want := load(t, data)
			if diff := cmp.Diff(want.VirtualIPs, got.VirtualIPs); diff != "" {
				t.Errorf("VirtualIPs (-sample +converted):\n%s", diff)
			}
			if diff := cmp.Diff(want.Secrets, got.Secrets); diff != "" {
				t.Errorf("Secrets (-sample +converted):\n%s", diff)
			}
		})
	}

	// Without --name the VirtualIP is named after the instance, and the spec is the same.
	plain, err := Convert(Options{Nodes: seedNodes})
	if err != nil {
		t.Fatal(err)
	}
	if n := plain.VirtualIPs[0].Name; n != "vi-1" {
		t.Errorf("VI_1 became VirtualIP %q, want vi-1", n)
	}
	if diff := cmp.Diff(res.VirtualIPs[0].Spec, plain.VirtualIPs[0].Spec); diff != "" {
		t.Errorf("the spec depends on the name (-named +plain):\n%s", diff)
	}
}

// TestSeedGolden holds the whole output for the seed, ConfigMap stub and comments included, and
// its report, to testdata/seed (go test -update rewrites them).
func TestSeedGolden(t *testing.T) {
	res, err := Convert(Options{Nodes: seedNodes, HooksConfigMap: DefaultHooksConfigMap})
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	for _, f := range res.Findings {
		report.WriteString(f.String() + "\n")
	}
	for file, got := range map[string][]byte{"expected.yaml": yamlOf(t, res), "expected.report": []byte(report.String())} {
		path := filepath.Join("testdata", "seed", file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
}

// convertTexts writes each node's configuration to <node>.conf and converts them in the order
// given.
func convertTexts(t *testing.T, o Options, texts ...string) (*Result, string, error) {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < len(texts); i += 2 {
		p := filepath.Join(dir, texts[i]+".conf")
		if err := os.WriteFile(p, []byte(texts[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
		o.Nodes = append(o.Nodes, Node{Name: texts[i], File: p})
	}
	res, err := Convert(o)
	return res, dir, err
}

// report is the findings without the note on keepalived's defaults, which every VirtualIP has
// (TestDefaultsUnlikeKeepalivedAreNoted holds it).
func report(res *Result, dir string) []string {
	var out []string
	for _, f := range res.Findings {
		if !strings.Contains(f.Text, unlikeKeepalived) {
			out = append(out, strings.TrimPrefix(f.String(), dir+"/"))
		}
	}
	return out
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestConvert(t *testing.T) {
	f := false
	// instance wraps the body of a vrrp_instance VI_1 with router ID 51 and the VIP of the seed.
	instance := func(body string) string {
		return "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.252/24\n  }\n" + body + "}\n"
	}
	seedSpec := func(mod func(*vrrpv1.VirtualIPSpec)) vrrpv1.VirtualIPSpec {
		s := vrrpv1.VirtualIPSpec{VirtualRouterID: 51, Version: 2, Addresses: []string{"198.51.100.252/24"}, AdvertInterval: dur(time.Second), Priority: 100}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	cases := map[string]struct {
		o      Options
		texts  []string // node, configuration, node, configuration...
		want   vrrpv1.VirtualIPSpec
		report []string
	}{
		"one node: its priority and interface are the spec's, keepalived's VRRPv2 is written out": {
			texts: []string{"a", instance("  interface eth0\n  priority 150\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Priority, s.Interface = 150, "eth0" }),
		},
		"the priority most nodes share is spec.priority, the others nodePriorities in node order": {
			texts: []string{"a", instance("  priority 150\n"), "b", instance("  priority 100\n"), "c", instance(""), "d", instance("  priority 120\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 150}, {Node: "d", Priority: 120}}
			}),
		},
		"a tie of priorities goes to the lowest, so that a node added later does not outrank the ones ranked": {
			texts: []string{"a", instance("  priority 200\n"), "b", instance("  priority 90\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Priority, s.NodePriorities = 90, []vrrpv1.NodePriority{{Node: "a", Priority: 200}}
			}),
		},
		"the interface the nodes agree on is kept": {
			texts: []string{"a", instance("  interface bond0\n  priority 150\n"), "b", instance("  interface bond0\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Interface, s.NodePriorities = "bond0", []vrrpv1.NodePriority{{Node: "a", Priority: 150}}
			}),
		},
		"nopreempt and preempt_delay": {
			texts: []string{"a", instance("  nopreempt\n  preempt_delay 2.5\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Preempt, s.PreemptDelay = &f, dur(2500*time.Millisecond)
			}),
		},
		"addresses without a prefix are /32 as keepalived adds them, ranges expand, dev of the instance's interface and scope global change nothing": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.1\n    203.0.113.7-9/24 dev eth0 scope global\n  }\n}\n"},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Interface = "eth0"
				s.Addresses = []string{"198.51.100.1/32", "203.0.113.7/24", "203.0.113.8/24", "203.0.113.9/24"}
			}),
		},
		"IPv6 addresses are /128 without a prefix and run VRRPv3, as in keepalived": {
			texts:  []string{"a", "vrrp_instance V6 {\n  virtual_router_id 7\n  version 2\n  advert_int 0.5\n  virtual_ipaddress {\n    2001:db8::1\n    2001:db8::2/64\n  }\n}\n"},
			want:   vrrpv1.VirtualIPSpec{VirtualRouterID: 7, Version: 3, Addresses: []string{"2001:db8::1/128", "2001:db8::2/64"}, AdvertInterval: dur(500 * time.Millisecond), Priority: 100},
			report: []string{"a.conf:3: note: version 2 with IPv6 addresses: keepalived runs VRRPv3, and so does the VirtualIP"},
		},
		"vrrp_version 3 from global_defs, centisecond intervals and authentication ignored as keepalived ignores it": {
			texts:  []string{"a", "global_defs {\n  vrrp_version 3\n}\n" + instance("  advert_int 0.25\n  authentication {\n    auth_type PASS\n    auth_pass x\n  }\n")},
			want:   seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Version, s.AdvertInterval = 3, dur(250*time.Millisecond) }),
			report: []string{"a.conf:10: note: authentication: VRRPv3 has none; keepalived ignores it, and so does the VirtualIP"},
		},
		"an advert_int VRRPv2 cannot carry is rounded, as keepalived rounds it, with a note": {
			texts:  []string{"a", instance("  advert_int 1.4\n")},
			want:   seedSpec(nil),
			report: []string{"a.conf:6: note: advert_int 1.4s cannot be sent in VRRPv2: keepalived rounds it, and the VirtualIP advertises every 1s"},
		},
		// Review of issue 12: keepalived reads the first word of a value (keepalived -t accepts it).
		"words after a value are ignored, as keepalived ignores them, with a note": {
			texts: []string{"a", instance("  priority 120 advert_int 3\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Priority = 120 }),
			report: []string{
				`a.conf:6: note: priority: keepalived reads 120 and ignores "advert_int 3", and so does the VirtualIP`,
			},
		},
		"unicast_peer sets unicast, and where the peers come from is said": {
			texts: []string{"a", instance("  unicast_src_ip 198.51.100.253\n  unicast_peer {\n    198.51.100.254\n  }\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Unicast = true }),
			report: []string{
				"a.conf:6: note: unicast_src_ip: the agent sends from the node's InternalIP on the interface, else its address in the first VIP's subnet",
				"a.conf:7: note: unicast_peer: spec.unicast is set; the agents send to the other nodes' addresses from the cluster (status.nodes[].address, else InternalIP), not to this list",
			},
		},
		"unicast_peer for standalone agents is not converted: their --config needs Node objects": {
			o:     Options{Standalone: true},
			texts: []string{"a", instance("  unicast_peer {\n    198.51.100.254\n  }\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Unicast = true }),
			report: []string{
				"a.conf:6: not converted: unicast_peer: spec.unicast is set, but standalone agents send only to the Node objects of their --config, with InternalIPs, which this output does not hold: add one per node before you run it",
			},
		},
		"fractional timers are rounded to the millisecond": {
			texts:  []string{"a", instance("  preempt_delay 0.0015\n")},
			want:   seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.PreemptDelay = dur(2 * time.Millisecond) }),
			report: []string{"a.conf:6: note: preempt_delay: 1.5ms is rounded to 2ms, the finest a VirtualIP takes"},
		},
		"GARP settings with a counterpart go to spec.garp, the instance's over global_defs', the others are reported": {
			texts: []string{"a", "global_defs {\n  vrrp_garp_master_repeat 2\n  vrrp_garp_interval 0.1\n  vrrp_garp_master_delay 5\n}\n" + instance("  garp_master_repeat 4\n  garp_master_refresh 60\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.GARP = &vrrpv1.GARP{Count: 4, Interval: dur(100 * time.Millisecond), Refresh: dur(time.Minute)}
			}),
			report: []string{"a.conf:4: not converted: vrrp_garp_master_delay: spec.garp has no counterpart (it has count, interval and refresh)"},
		},
		"notify scripts become hooks: split as keepalived splits them, the program by its base name": {
			o: Options{HooksConfigMap: DefaultHooksConfigMap},
			texts: []string{"a", instance("  notify_master \"/etc/keepalived/up.sh 'two words' x\"\n  notify_backup /etc/keepalived/down.sh\n" +
				"  notify_fault \"/etc/keepalived/down.sh fault\"\n  notify_stop /etc/keepalived/down.sh\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Hooks = &vrrpv1.Hooks{
					Master: &vrrpv1.Hook{Command: []string{"up.sh", "two words", "x"}},
					Backup: &vrrpv1.Hook{Command: []string{"down.sh"}},
					Fault:  &vrrpv1.Hook{Command: []string{"down.sh", "fault"}},
					Stop:   &vrrpv1.Hook{Command: []string{"down.sh"}},
				}
			}),
			report: []string{
				"a.conf:6: note: notify_master: the hook runs up.sh from the hook directory: copy /etc/keepalived/up.sh into ConfigMap vrrp-system/vrrp-operator-hooks (key up.sh), a placeholder until then, or the standalone agent's --hook-dir",
				"a.conf:7: note: notify_backup: the hook runs down.sh from the hook directory: copy /etc/keepalived/down.sh into ConfigMap vrrp-system/vrrp-operator-hooks (key down.sh), a placeholder until then, or the standalone agent's --hook-dir",
			},
		},
		"scripts a hook directory cannot hold are reported and left out": {
			texts: []string{"a", instance("  notify_master \"killall -HUP foo\"\n  notify_backup /a/x.sh\n  notify_fault /b/x.sh\n  notify_stop /a/x.sh keepalived_script\n  notify_deleted /a/x.sh\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Hooks = &vrrpv1.Hooks{Backup: &vrrpv1.Hook{Command: []string{"x.sh"}}, Stop: &vrrpv1.Hook{Command: []string{"x.sh"}}}
			}),
			report: []string{
				"a.conf:6: not converted: notify_master: killall is found on PATH; hooks run only programs in the agent's hook directory: put a script there that runs it",
				"a.conf:7: note: notify_backup: the hook runs x.sh from the hook directory: copy /a/x.sh into the agent's hook directory (--hook-dir)",
				"a.conf:8: not converted: notify_fault: /a/x.sh and /b/x.sh share the hook name x.sh; give one a name of its own in the hook directory",
				"a.conf:9: not converted: notify_stop: runs as user keepalived_script in keepalived; hooks run as the agent",
				"a.conf:10: not converted: notify_deleted: hooks run on becoming MASTER, BACKUP, FAULT and on stop only",
			},
		},
		"the notify hook's instance name is said when the VirtualIP's differs": {
			texts: []string{"a", instance("  notify /etc/keepalived/n.sh\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Hooks = &vrrpv1.Hooks{Notify: &vrrpv1.Hook{Command: []string{"n.sh"}}}
			}),
			report: []string{
				"a.conf:1: note: vrrp_instance VI_1 is VirtualIP vi-1: the notify hook gets INSTANCE vi-1 <STATE> <priority> where keepalived passed VI_1 (--name VI_1=NAME chooses the name)",
				"a.conf:6: note: notify: the hook runs n.sh from the hook directory: copy /etc/keepalived/n.sh into the agent's hook directory (--hook-dir)",
			},
		},
		"AH authentication, an undefined track_script, vmac, excluded addresses, address labels and other devices are reported": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  authentication {\n    auth_type AH\n    auth_pass x\n  }\n" +
				"  virtual_ipaddress {\n    198.51.100.252/24 label eth0:1\n    198.51.100.253/24 dev eth1\n    198.51.100.252/24\n  }\n  virtual_ipaddress_excluded {\n    198.51.100.9\n  }\n" +
				"  track_interface {\n    eth1\n  }\n  track_script {\n    chk\n  }\n  use_vmac\n  frobnicate 3\n}\n"},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Interface, s.Addresses = "eth0", []string{"198.51.100.252/24", "198.51.100.253/24"}
				s.Track = []vrrpv1.Check{{Name: "eth1", Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}}}
			}),
			report: []string{
				"a.conf:4: not converted: authentication: auth_type AH (IPsec AH, dropped in RFC 3768) is not supported; the VirtualIP has no authentication",
				"a.conf:9: not converted: virtual_ipaddress entry: label eth0:1: the agent adds addresses without a label",
				"a.conf:10: not converted: virtual_ipaddress entry: dev eth1: every address of a VirtualIP goes on its one interface",
				"a.conf:11: note: virtual_ipaddress entry: the address is listed already; the VirtualIP has it once",
				"a.conf:13: not converted: virtual_ipaddress_excluded: every address of a VirtualIP is in its adverts; list these in another VirtualIP or in addresses",
				"a.conf:20: not converted: track_script chk: no vrrp_script chk; keepalived ignores it, and so does the VirtualIP",
				"a.conf:22: not converted: use_vmac: virtual MAC interfaces are not supported; the VIPs go on the interface itself",
				"a.conf:23: not converted: frobnicate: unknown keyword",
			},
		},
		"promote_secondaries converts with a note: the agent keeps its VIPs, the host's sysctl the other addresses": {
			texts: []string{"a", instance("  promote_secondaries\n")},
			want:  seedSpec(nil),
			report: []string{
				"a.conf:6: note: promote_secondaries: the agent adds back at once a VIP that the kernel removed with another of its subnet; for the node's other addresses, set net.ipv4.conf.<interface>.promote_secondaries=1 on the host as keepalived did (Debian's systemd sets it for every interface)",
			},
		},
		"top-level blocks without a counterpart are reported once each": {
			texts: []string{"a", "vrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\nvirtual_server 198.51.100.9 80 {\n  real_server 198.51.100.10 80 {\n  }\n}\nvrrp_script chk {\n  script /bin/true\n}\n" + instance("  smtp_alert\n") + "bogus\n"},
			want:  seedSpec(nil),
			report: []string{
				"a.conf:1: not converted: vrrp_sync_group: sync groups are not supported: each VirtualIP fails over on its own",
				"a.conf:6: not converted: virtual_server: LVS virtual servers are not managed by vrrp-operator",
				"a.conf:10: note: vrrp_script chk: no vrrp_instance tracks it, so keepalived does not run it; nothing to convert",
				"a.conf:18: not converted: smtp_alert: the agent sends no mail; a notify hook can",
				"a.conf:20: not converted: bogus: unknown keyword",
			},
		},
		"an instance only some nodes have is reported, as a VirtualIP runs on every node": {
			texts: []string{"a", instance("  priority 150\n"), "b", "global_defs {\n  router_id b\n}\n"},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Priority = 150 }),
			report: []string{
				"a.conf:1: not converted: vrrp_instance VI_1 is configured on a only, but a VirtualIP runs on every node with an agent: add a nodeSelector",
				"b.conf:2: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
			},
		},
		"state MASTER without priority is keepalived's 255, which becomes 254 and is reported": {
			texts: []string{"a", instance("  state MASTER\n"), "b", instance("  state BACKUP\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 254}} }),
			report: []string{
				"a.conf:6: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
				"a.conf:6: not converted: state MASTER without priority: keepalived's priority is then 255 (the address owner's); it becomes 254: the agent owns no address and preempts by priority",
			},
		},
		"nopreempt and preempt_delay with state MASTER are ignored, as keepalived clears them": {
			texts: []string{"a", instance("  state MASTER\n  priority 150\n  nopreempt\n  preempt_delay 5\n")},
			want:  seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Priority = 150 }),
			report: []string{
				"a.conf:6: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
				"a.conf:8: note: nopreempt and preempt_delay: keepalived ignores them with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"); this node preempts at once",
				"a.conf:9: note: nopreempt and preempt_delay: keepalived ignores them with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"); this node preempts at once",
			},
		},
		// Review of issue 12: b's nopreempt changes nothing in keepalived (a, higher, preempts
		// b when it comes back); taking it kept a returning a as Backup, the VIP on b.
		"nodes that then preempt differently: the highest priority's setting is taken": {
			texts: []string{"a", instance("  state MASTER\n  priority 150\n  nopreempt\n"), "b", instance("  state BACKUP\n  nopreempt\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 150}}
			}),
			report: []string{
				"a.conf:1: note: vrrp_instance VI_1: the nodes preempt differently (preempt on a, nopreempt on b): it takes a's, the highest priority's: the others have the lowest, and no node below them to preempt",
				"a.conf:6: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
				"a.conf:8: note: nopreempt and preempt_delay: keepalived ignores them with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"); this node preempts at once",
			},
		},
		"whatever the order of the files, the highest priority's preempt_delay is taken": {
			texts: []string{"b", instance("  state BACKUP\n"), "a", instance("  state BACKUP\n  priority 150\n  preempt_delay 60\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.PreemptDelay, s.NodePriorities = dur(time.Minute), []vrrpv1.NodePriority{{Node: "a", Priority: 150}}
			}),
			report: []string{
				"b.conf:1: note: vrrp_instance VI_1: the nodes preempt differently (preempt on b, preempt preempt_delay 1m0s on a): it takes a's, the highest priority's: the others have the lowest, and no node below them to preempt",
			},
		},
		"a middle node that preempts differently is not converted: it has a node below it to preempt": {
			texts: []string{"a", instance("  state BACKUP\n  priority 150\n"), "b", instance("  state BACKUP\n  priority 120\n  nopreempt\n"), "c", instance("  state BACKUP\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.NodePriorities = []vrrpv1.NodePriority{{Node: "a", Priority: 150}, {Node: "b", Priority: 120}}
			}),
			report: []string{
				"a.conf:1: not converted: vrrp_instance VI_1: the nodes preempt differently (preempt on a, nopreempt on b, preempt on c): a VirtualIP has one setting for all nodes; it takes a's, the highest priority's",
			},
		},
		"nodes of one priority that preempt differently are a note: a Backup never preempts an equal priority": {
			texts: []string{"a", instance("  state BACKUP\n"), "b", instance("  state BACKUP\n  nopreempt\n")},
			want:  seedSpec(nil),
			report: []string{
				"a.conf:1: note: vrrp_instance VI_1: the nodes preempt differently (preempt on a, nopreempt on b): it takes a's, the highest priority's: the others have the lowest, and no node below them to preempt",
			},
		},
		// Review of issue 12: keepalived sends no authentication under vrrp_strict; agents that
		// sent PASS and keepalived nodes would refuse each other's adverts during a migration.
		"vrrp_strict: the authentication keepalived ignores is left out": {
			texts: []string{"a", "global_defs {\n  vrrp_strict\n}\n" + instance("  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n")},
			want:  seedSpec(nil),
			report: []string{
				"a.conf:2: not converted: vrrp_strict: keepalived then drops traffic to the VIPs of routers without accept (firewall rules) and refuses unicast peers; the agent does neither. It also ignores authentication (\"Strict mode does not support authentication. Ignoring.\"), and so does the VirtualIP",
				"a.conf:9: note: authentication: keepalived ignores it under vrrp_strict, and so does the VirtualIP",
			},
		},
		"auth_pass of more words, as in the seed: the first is the password, and a note says so": {
			texts: []string{"a", instance("  authentication {\n    auth_type PASS\n    auth_pass $ SOMEPASSWORDHERE\n  }\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.Authentication = &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass, SecretRef: vrrpv1.SecretKeyReference{Name: "vrrp-auth", Namespace: "vrrp-system", Key: "password"}}
			}),
			report: []string{`a.conf:8: note: auth_pass: keepalived takes the first word, "$", as the password, and ignores "SOMEPASSWORDHERE"; so does the Secret`},
		},
		"a preempt_delay beyond keepalived's 1000 s is refused as keepalived refuses it: no delay, reported": {
			texts:  []string{"a", instance("  preempt_delay 2000\n")},
			want:   seedSpec(nil),
			report: []string{"a.conf:6: not converted: preempt_delay: must be seconds from 0 to 1000; keepalived refuses other values"},
		},
		"nodes that list the same addresses in another order agree; the first node's order is kept": {
			texts: []string{
				"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.1/24\n    198.51.100.2/24\n  }\n}\n",
				"b", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.2/24\n    198.51.100.1/24\n  }\n}\n",
			},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Addresses = []string{"198.51.100.1/24", "198.51.100.2/24"} }),
		},
		"instance garp_interval and gna_interval are unknown to keepalived 2.2.7; vrrp_gna_interval is for IPv6 routers only": {
			texts: []string{"a", "global_defs {\n  vrrp_garp_interval 0.1\n  vrrp_gna_interval 0.3\n}\n" + instance("  garp_interval 0.2\n  gna_interval 0.2\n")},
			want: seedSpec(func(s *vrrpv1.VirtualIPSpec) {
				s.GARP = &vrrpv1.GARP{Interval: dur(100 * time.Millisecond)}
			}),
			report: []string{"a.conf:10: not converted: garp_interval: unknown keyword", "a.conf:11: not converted: gna_interval: unknown keyword"},
		},
		"vrrp_gna_interval is the IPv6 routers' interval, not vrrp_garp_interval written after it": {
			texts: []string{"a", "global_defs {\n  vrrp_gna_interval 0.3\n  vrrp_garp_interval 0.1\n}\nvrrp_instance V6 {\n  virtual_router_id 7\n  virtual_ipaddress {\n    2001:db8::1/64\n  }\n}\n"},
			want: vrrpv1.VirtualIPSpec{VirtualRouterID: 7, Version: 3, Addresses: []string{"2001:db8::1/64"}, AdvertInterval: dur(time.Second), Priority: 100,
				GARP: &vrrpv1.GARP{Interval: dur(300 * time.Millisecond)}},
		},
		"garp_master_refresh under a second is keepalived's 0, no refresh": {
			texts:  []string{"a", instance("  garp_master_refresh 0.5\n")},
			want:   seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.GARP = &vrrpv1.GARP{Refresh: dur(0)} }),
			report: []string{"a.conf:6: note: garp_master_refresh 0.5: keepalived reads whole seconds, 0: no refresh, and so does the VirtualIP"},
		},
		"garp_master_refresh with a fraction is keepalived's whole seconds": {
			texts:  []string{"a", instance("  garp_master_refresh 1.5\n")},
			want:   seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.GARP = &vrrpv1.GARP{Refresh: dur(time.Second)} }),
			report: []string{"a.conf:6: note: garp_master_refresh 1.5: keepalived reads whole seconds, 1s, and so does the VirtualIP"},
		},
		"accept and preempt are keepalived's and the agent's behaviour, a note each": {
			texts: []string{"a", instance("  accept\n  preempt\n")},
			want:  seedSpec(nil),
			report: []string{
				"a.conf:6: note: accept: the agent's Master accepts packets to its addresses (RFC 9568 §6.1 Accept_Mode), as keepalived's accept does",
				"a.conf:7: note: preempt: preempting is the default, in keepalived and in the VirtualIP",
			},
		},
		"a script whose name cannot be a ConfigMap key is reported and left out": {
			texts:  []string{"a", instance("  notify_master /etc/keepalived/up+1.sh\n")},
			want:   seedSpec(nil),
			report: []string{"a.conf:6: not converted: notify_master: up+1.sh cannot be a hook name, a ConfigMap key (a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')): put a script with another name into the hook directory that runs it"},
		},
		"an include that matches nothing is not converted, as what it holds is missing": {
			texts:  []string{"a", "include /nonexistent-vrrp-test/*.conf\n" + instance("")},
			want:   seedSpec(nil),
			report: []string{"a.conf:1: not converted: include /nonexistent-vrrp-test/*.conf matches no file (an absolute path is looked up on this machine: --root DIR reads it under DIR): keepalived goes on without it, and what it holds is not converted"},
		},
		"priority 255, the address owner's, becomes 254 and is reported": {
			texts:  []string{"a", instance("  priority 255\n")},
			want:   seedSpec(func(s *vrrpv1.VirtualIPSpec) { s.Priority = 254 }),
			report: []string{"a.conf:6: not converted: priority 255 (the address owner's) becomes 254: the agent owns no address and preempts by priority"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, dir, err := convertTexts(t, tc.o, tc.texts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.VirtualIPs) != 1 {
				t.Fatalf("got %d VirtualIPs, want 1", len(res.VirtualIPs))
			}
			if diff := cmp.Diff(tc.want, res.VirtualIPs[0].Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.report, report(res, dir)); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if complete := !strings.Contains(strings.Join(tc.report, "\n"), "not converted"); res.Complete() != complete {
				t.Errorf("Complete() = %v, want %v", res.Complete(), complete)
			}
		})
	}
}

// TestConditionalConfigurationServesSeveralNodes converts one file with '@' lines for two nodes,
// as keepalived is run with -i on each.
func TestConditionalConfigurationServesSeveralNodes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keepalived.conf")
	text := "$VIP=198.51.100.252/24\nvrrp_instance VI_1 {\n  @high priority 170\n  @low priority 85\n  @high interface ens3\n  @^high interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    $VIP\n  }\n}\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Convert(Options{Nodes: []Node{{Name: "high", File: p}, {Name: "low", File: p}}})
	if err != nil {
		t.Fatal(err)
	}
	want := vrrpv1.VirtualIPSpec{VirtualRouterID: 1, Version: 2, Addresses: []string{"198.51.100.252/24"}, AdvertInterval: dur(time.Second),
		Priority: 85, NodePriorities: []vrrpv1.NodePriority{{Node: "high", Priority: 170}}}
	if diff := cmp.Diff(want, res.VirtualIPs[0].Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	// --config-id overrides the node names: both nodes read the @low lines.
	res, err = Convert(Options{Nodes: []Node{{Name: "high", File: p}, {Name: "low", File: p}}, ConfigID: "low"})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.VirtualIPs[0].Spec; s.Priority != 85 || s.NodePriorities != nil || s.Interface != "eth0" {
		t.Errorf("with --config-id low: priority %d, nodePriorities %v, interface %q; want 85, none, eth0", s.Priority, s.NodePriorities, s.Interface)
	}
}

// TestPasswords: one Secret holds every PASS password, under "password" when the routers share
// it and under each VirtualIP's name when they do not.
func TestPasswords(t *testing.T) {
	inst := func(name string, vrid int, pass string) string {
		return "vrrp_instance " + name + " {\n  virtual_router_id " + string(rune('0'+vrid)) + "\n  authentication {\n    auth_type PASS\n    auth_pass " + pass +
			"\n  }\n  virtual_ipaddress {\n    198.51.100." + string(rune('0'+vrid)) + "/24\n  }\n}\n"
	}
	for name, tc := range map[string]struct {
		text  string
		other string            // a second node's, when set
		keys  map[string]string // VirtualIP -> key
		data  map[string]string
		bytes map[string][]byte // the Secret's data: passwords that are not UTF-8
	}{
		// Review of issue 12: stringData turned the cut character into U+FFFD, which a keepalived
		// peer does not send.
		"a password cut inside a character is written as its bytes": {
			text: inst("A", 1, "ppppppp€€"),
			keys: map[string]string{"a": "password"}, data: map[string]string{},
			bytes: map[string][]byte{"password": []byte("ppppppp\xe2")},
		},
		"a password is cut to 8 characters, as keepalived sends it: nodes that agree on those agree": {
			text: inst("A", 1, "12345678aa"), other: inst("A", 1, "12345678bb"),
			keys: map[string]string{"a": "password"},
			data: map[string]string{"password": "12345678"},
		},
		"a shared password is under password": {
			text: inst("A", 1, "same") + inst("B", 2, "same"),
			keys: map[string]string{"a": "password", "b": "password"},
			data: map[string]string{"password": "same"},
		},
		"different passwords are under each VirtualIP's name": {
			text: inst("A", 1, "one") + inst("B", 2, "two"),
			keys: map[string]string{"a": "a", "b": "b"},
			data: map[string]string{"a": "one", "b": "two"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			texts := []string{"n", tc.text}
			if tc.other != "" {
				texts = append(texts, "m", tc.other)
			}
			res, _, err := convertTexts(t, Options{Namespace: "kube-vrrp", SecretName: "pw"}, texts...)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]string{}
			for _, v := range res.VirtualIPs {
				ref := v.Spec.Authentication.SecretRef
				if ref.Name != "pw" || ref.Namespace != "kube-vrrp" {
					t.Errorf("VirtualIP %s refers to Secret %s/%s, want kube-vrrp/pw", v.Name, ref.Namespace, ref.Name)
				}
				keys[v.Name] = ref.Key
			}
			if diff := cmp.Diff(tc.keys, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.data, res.Secret.StringData); diff != "" {
				t.Errorf("Secret (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.bytes, res.Secret.Data); diff != "" {
				t.Errorf("Secret's data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConvertRefuses(t *testing.T) {
	body := "  virtual_ipaddress {\n    198.51.100.252/24\n  }\n"
	cases := map[string]struct {
		o     Options
		texts []string
		want  string // in the error
	}{
		"nodes that disagree on a shared setting": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n" + body + "}\n", "b", "vrrp_instance VI_1 {\n  virtual_router_id 52\n  advert_int 2\n" + body + "}\n"},
			want:  "b.conf:1: vrrp_instance VI_1 differs from a's (" + "DIR/a.conf:1) in advertInterval, virtualRouterID: the nodes must agree",
		},
		"nodes with different passwords": {
			texts: []string{
				"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  authentication {\n    auth_type PASS\n    auth_pass one\n  }\n" + body + "}\n",
				"b", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  authentication {\n    auth_type PASS\n    auth_pass two\n  }\n" + body + "}\n",
			},
			want: "b.conf:1: vrrp_instance VI_1 has another auth_pass than a's",
		},
		"an instance without a router ID": {
			texts: []string{"a", "vrrp_instance VI_1 {\n" + body + "}\n"},
			want:  "a.conf:1: vrrp_instance VI_1 has no virtual_router_id",
		},
		"an instance without addresses": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n}\n"},
			want:  "a.conf:1: vrrp_instance VI_1 has no virtual_ipaddress",
		},
		"two instances that would have one name": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n" + body + "}\nvrrp_instance vi-1 {\n  virtual_router_id 52\n" + body + "}\n"},
			want:  "vrrp_instance VI_1 and vi-1 would both be VirtualIP vi-1: name one with --name vi-1=NAME",
		},
		"a result the API server would refuse": {
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.1-20\n  }\n}\n"},
			want:  "a.conf:1: the converted VirtualIP would be refused: VirtualIP \"vi-1\" is invalid: spec.addresses: Too many: 20: must have at most 16 items",
		},
		"a name that is no DNS name": {
			o:     Options{Names: map[string]string{"VI_1": "Services"}},
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n" + body + "}\n"},
			want:  "vrrp_instance VI_1 cannot be VirtualIP \"Services\"",
		},
		"no vrrp_instance at all, with the include that should have brought it": {
			texts: []string{"a", "include /nonexistent-vrrp-test/keepalived.conf\n"},
			want:  "no vrrp_instance to convert; includes matched no file at DIR/a.conf:1 (absolute paths are looked up on this machine: --root DIR reads them under DIR)",
		},
		"--name for an instance no node has": {
			o:     Options{Names: map[string]string{"VI_9": "x"}},
			texts: []string{"a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n" + body + "}\n"},
			want:  "--name VI_9: no node has this vrrp_instance",
		},
		"a file that does not parse": {
			texts: []string{"a", "vrrp_instance VI_1 {\n"},
			want:  "node a: DIR/a.conf:1: the block of vrrp_instance is not closed",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, dir, err := convertTexts(t, tc.o, tc.texts...)
			if err == nil {
				t.Fatal("converted")
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
}

// TestDefaultsUnlikeKeepalivedAreNoted: where the VirtualIP's defaults are not keepalived's, each
// converted VirtualIP says so (the manifests stay config/samples', without nodeSelector or garp).
func TestDefaultsUnlikeKeepalivedAreNoted(t *testing.T) {
	res, _, err := convertTexts(t, Options{}, "a", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  priority 150\n  virtual_ipaddress {\n    198.51.100.252/24\n  }\n  notify /etc/keepalived/n.sh\n}\n",
		"b", "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.252/24\n  }\n  notify /etc/keepalived/n.sh\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, f := range res.Findings {
		if strings.Contains(f.Text, unlikeKeepalived) {
			notes = append(notes, f.Text)
		}
	}
	want := []string{"vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (a, b) joins at priority 100; " +
		"add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s. " +
		"The agent stops a hook that runs longer than 30 s; keepalived never stops notify scripts"}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if !res.Complete() {
		t.Errorf("notes made the conversion incomplete: %v", res.Findings)
	}
}

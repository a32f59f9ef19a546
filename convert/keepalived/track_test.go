package keepalived

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// trackingCase is keepalived tracking on one node (or several) and the spec.track it becomes.
type trackingCase struct {
	o      Options
	texts  []string // node, configuration, node, configuration...
	want   []vrrpv1.Check
	report []string
	// programs are the ConfigMap stub's keys (Options.HooksConfigMap set).
	programs []string
}

// tracks is a vrrp_instance VI_1 (router 51, the seed's VIP) that tracks what body says, after
// the definitions defs.
func tracks(defs, body string) string {
	return defs + "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.252/24\n  }\n" + body + "}\n"
}

func w(n int32) *int32            { return &n }
func secs(n int) *metav1.Duration { return &metav1.Duration{Duration: time.Duration(n) * time.Second} }

func execOf(argv ...string) *vrrpv1.ExecCheck { return &vrrpv1.ExecCheck{Command: argv} }

// trackingCases follow keepalived.conf(5) and the examples Debian's keepalived installs
// (keepalived.conf.vrrp.localcheck), with documentation addresses. Line 1 of the instance is line
// N+1 when the definitions take N lines.
var trackingCases = map[string]trackingCase{
	"a vrrp_script with keepalived's defaults is an unweighted exec check of the script's base name, so failing is FAULT": {
		o:     Options{HooksConfigMap: DefaultHooksConfigMap},
		texts: []string{"a", tracks("vrrp_script chk_haproxy {\n  script /etc/keepalived/check_haproxy.sh\n}\n", "  track_script {\n    chk_haproxy\n  }\n")},
		want:  []vrrpv1.Check{{Name: "chk-haproxy", Exec: execOf("check_haproxy.sh")}},
		report: []string{
			"a.conf:2: note: script: the check runs check_haproxy.sh from the hook directory: copy /etc/keepalived/check_haproxy.sh into ConfigMap vrrp-system/vrrp-operator-hooks (key check_haproxy.sh), a placeholder until then, or the standalone agent's --hook-dir; the check fails until then",
		},
		programs: []string{"check_haproxy.sh"},
	},
	"interval, timeout, rise, fall and the arguments carry over; track_script's weight overrides the script's": {
		texts: []string{"a", tracks("vrrp_script chk_vpn {\n  script \"/usr/local/bin/check_vpn.sh 'tun 0' 198.51.100.1\"\n  interval 5\n  timeout 4\n  rise 3\n  fall 2\n  weight -20\n}\n",
			"  track_script {\n    chk_vpn weight -30\n  }\n")},
		want: []vrrpv1.Check{{Name: "chk-vpn", Weight: w(-30), Interval: secs(5), Timeout: secs(4), Rise: w(3), Fall: w(2),
			Exec: execOf("check_vpn.sh", "tun 0", "198.51.100.1")}},
		report: []string{
			"a.conf:2: note: script: the check runs check_vpn.sh from the hook directory: copy /usr/local/bin/check_vpn.sh into the agent's hook directory (--hook-dir); the check fails until then",
		},
	},
	"the script's weight applies where track_script gives none; noreverse undoes the script's reverse": {
		texts: []string{"a", tracks("vrrp_script chk_a {\n  script /x/a.sh\n  weight 10\n}\nvrrp_script chk_b {\n  script /x/b.sh\n  weight 5 reverse\n}\n",
			"  track_script {\n    chk_a\n    chk_b weight 5 noreverse\n  }\n")},
		want: []vrrpv1.Check{{Name: "chk-a", Weight: w(10), Exec: execOf("a.sh")}, {Name: "chk-b", Weight: w(5), Exec: execOf("b.sh")}},
		report: []string{
			"a.conf:2: note: script: the check runs a.sh from the hook directory: copy /x/a.sh into the agent's hook directory (--hook-dir); the check fails until then",
			"a.conf:6: note: script: the check runs b.sh from the hook directory: copy /x/b.sh into the agent's hook directory (--hook-dir); the check fails until then",
		},
	},
	"weight reverse has no counterpart: the check is left out and reported, wherever reverse is written": {
		texts: []string{"a", tracks("vrrp_script chk_a {\n  script /x/a.sh\n  weight -5 reverse\n}\nvrrp_script chk_b {\n  script /x/b.sh\n}\n",
			"  track_script {\n    chk_a\n    chk_b weight 2 reverse\n  }\n  track_interface {\n    eth1 weight 0 reverse\n  }\n")},
		report: []string{
			"a.conf:3: not converted: track_script chk_a: weight -5 reverse: " + noReverse,
			"a.conf:15: not converted: track_script chk_b: weight 2 reverse: " + noReverse,
			"a.conf:18: not converted: track_interface eth1: weight 0 reverse: " + noReverse,
		},
	},
	"a timeout longer than the interval, which keepalived allows, becomes the interval and is reported; 0 is keepalived's 1": {
		texts: []string{"a", tracks("vrrp_script chk {\n  script /x/c.sh\n  interval 2\n  timeout 5\n}\nvrrp_script chk0 {\n  script /x/c.sh\n  interval 0\n}\n",
			"  track_script {\n    chk\n    chk0\n  }\n")},
		want: []vrrpv1.Check{{Name: "chk", Interval: secs(2), Timeout: secs(2), Exec: execOf("c.sh")}, {Name: "chk0", Interval: secs(1), Exec: execOf("c.sh")}},
		report: []string{
			"a.conf:2: note: script: the check runs c.sh from the hook directory: copy /x/c.sh into the agent's hook directory (--hook-dir); the check fails until then",
			"a.conf:4: not converted: timeout 5 is longer than interval 2: keepalived lets a run go on and skips the runs that fall due meanwhile, a check's timeout is at most its interval: it becomes 2s, so a run longer than that fails (or raise interval to 5)",
			"a.conf:8: note: interval 0: keepalived runs it as 1, and so does the check",
		},
	},
	"init_fail and user have no counterpart: reported, the check kept": {
		texts: []string{"a", tracks("vrrp_script chk {\n  script /x/c.sh\n  user keepalived_script\n  init_fail\n}\n", "  track_script {\n    chk\n  }\n")},
		want:  []vrrpv1.Check{{Name: "chk", Exec: execOf("c.sh")}},
		report: []string{
			"a.conf:2: note: script: the check runs c.sh from the hook directory: copy /x/c.sh into the agent's hook directory (--hook-dir); the check fails until then",
			"a.conf:3: not converted: user: the script runs as keepalived_script in keepalived; checks run as the agent",
			"a.conf:4: not converted: init_fail: a check counts as passing until its first result; keepalived starts this script failing",
		},
	},
	"bash's </dev/tcp, bash -c and nc -z only connect: they become tcp checks": {
		texts: []string{"a", tracks("vrrp_script chk_http_port {\n  script \"</dev/tcp/198.51.100.10/80\"\n  interval 1\n  weight -2\n}\n"+
			"vrrp_script chk_https_port {\n  script \"bash -c '</dev/tcp/198.51.100.10/443'\"\n}\nvrrp_script chk_v6 {\n  script \"nc -z 2001:db8::10 443\"\n}\n",
			"  track_script {\n    chk_http_port\n    chk_https_port\n    chk_v6\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "chk-http-port", Weight: w(-2), Interval: secs(1), TCP: &vrrpv1.TCPCheck{Address: "198.51.100.10:80"}},
			{Name: "chk-https-port", TCP: &vrrpv1.TCPCheck{Address: "198.51.100.10:443"}},
			{Name: "chk-v6", TCP: &vrrpv1.TCPCheck{Address: "[2001:db8::10]:443"}},
		},
		report: []string{
			`a.conf:2: note: script: "</dev/tcp/198.51.100.10/80" connects to 198.51.100.10:80 and exits: a tcp check of 198.51.100.10:80 does the same (keepalived runs it with /bin/sh, which connects only when it is bash: with dash the script always failed)`,
			`a.conf:7: note: script: "bash -c '</dev/tcp/198.51.100.10/443'" connects to 198.51.100.10:443 and exits: a tcp check of 198.51.100.10:443 does the same`,
			`a.conf:10: note: script: "nc -z 2001:db8::10 443" connects to [2001:db8::10]:443 and exits: a tcp check of [2001:db8::10]:443 does the same`,
		},
	},
	"curl -f of a URL becomes an http check; curl without -f, or verifying https, stays an exec check": {
		o: Options{HooksConfigMap: DefaultHooksConfigMap},
		texts: []string{"a", tracks("vrrp_script chk_web {\n  script \"curl -fsS -o /dev/null http://198.51.100.10:8404/healthz\"\n  interval 2\n  fall 3\n}\n"+
			"vrrp_script chk_tls {\n  script \"/usr/bin/curl --fail -k https://203.0.113.10/ready\"\n}\nvrrp_script chk_any {\n  script \"curl -s http://198.51.100.10/\"\n}\n"+
			"vrrp_script chk_verified {\n  script \"/usr/bin/curl -f https://203.0.113.10/\"\n}\n",
			"  track_script {\n    chk_web weight -10\n    chk_tls\n    chk_any\n    chk_verified\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "chk-web", Weight: w(-10), Interval: secs(2), Fall: w(3), HTTP: &vrrpv1.HTTPCheck{URL: "http://198.51.100.10:8404/healthz"}},
			{Name: "chk-tls", HTTP: &vrrpv1.HTTPCheck{URL: "https://203.0.113.10/ready"}},
			{Name: "chk-any", Exec: execOf("curl", "-s", "http://198.51.100.10/")},
			{Name: "chk-verified", Exec: execOf("curl", "-f", "https://203.0.113.10/")},
		},
		report: []string{
			`a.conf:2: note: script: "curl -fsS -o /dev/null http://198.51.100.10:8404/healthz" gets http://198.51.100.10:8404/healthz and fails on a status of 400 or more: an http check of it does the same (it passes on 200-399)`,
			`a.conf:7: note: script: "/usr/bin/curl --fail -k https://203.0.113.10/ready" gets https://203.0.113.10/ready and fails on a status of 400 or more: an http check of it does the same (it passes on 200-399)`,
			`a.conf:10: not converted: script: keepalived finds curl on PATH; the agent runs only programs in its hook directory: the exec check runs curl from there, so put a program there that does what "curl -s http://198.51.100.10/" did (it fails until then)`,
			"a.conf:13: not converted: script: curl and /usr/bin/curl share the hook name curl; give one a name of its own in the hook directory",
		},
		programs: []string{"curl"},
	},
	"a program keepalived finds on PATH stays an exec check of that name, reported: the hook directory must hold it": {
		o: Options{HooksConfigMap: DefaultHooksConfigMap},
		texts: []string{"a", tracks("vrrp_script chk_sshd {\n  script \"killall -0 sshd\"\n  interval 2\n  weight -4\n  fall 2\n  rise 2\n}\nvrrp_script chk_haproxy {\n  script \"killall -0 haproxy\"\n  interval 2\n}\n",
			"  track_script {\n    chk_sshd\n    chk_haproxy weight 2\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "chk-sshd", Weight: w(-4), Interval: secs(2), Rise: w(2), Fall: w(2), Exec: execOf("killall", "-0", "sshd")},
			{Name: "chk-haproxy", Weight: w(2), Interval: secs(2), Exec: execOf("killall", "-0", "haproxy")},
		},
		report: []string{
			`a.conf:2: not converted: script: keepalived finds killall on PATH; the agent runs only programs in its hook directory: the exec check runs killall from there, so put a program there that does what "killall -0 sshd" did (it fails until then)`,
			`a.conf:9: not converted: script: keepalived finds killall on PATH; the agent runs only programs in its hook directory: the exec check runs killall from there, so put a program there that does what "killall -0 haproxy" did (it fails until then)`,
		},
		programs: []string{"killall"},
	},
	"a shell command line becomes a program named after the check, reported: it must be written": {
		o:     Options{HooksConfigMap: DefaultHooksConfigMap},
		texts: []string{"a", tracks("vrrp_script chk_local {\n  script \"</dev/tcp/localhost/80\"\n}\n", "  track_script {\n    chk_local\n  }\n")},
		want:  []vrrpv1.Check{{Name: "chk-local", Exec: execOf("chk-local")}},
		report: []string{
			`a.conf:2: not converted: script: "</dev/tcp/localhost/80" is a shell command line (keepalived runs it with /bin/sh -c): the exec check runs program chk-local from the hook directory; write it there (it fails until then)`,
		},
		programs: []string{"chk-local"},
	},
	"track_interface: a weight while up or down, none for FAULT; ±254 is ±253 as keepalived makes it; a duplicate is ignored": {
		texts: []string{"a", tracks("", "  track_interface {\n    eth1 weight 2\n    eth2 weight -2\n    eth3\n    bond0.100 weight -254\n    eth1\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "eth1", Weight: w(2), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
			{Name: "eth2", Weight: w(-2), Interface: &vrrpv1.InterfaceCheck{Name: "eth2"}},
			{Name: "eth3", Interface: &vrrpv1.InterfaceCheck{Name: "eth3"}},
			{Name: "bond0-100", Weight: w(-253), Interface: &vrrpv1.InterfaceCheck{Name: "bond0.100"}},
		},
		report: []string{
			"a.conf:10: note: weight -254: keepalived makes it -253, and so does the check",
			"a.conf:11: note: track_interface eth1: tracked already; keepalived ignores the duplicate, and so does the VirtualIP",
		},
	},
	"track_file: keepalived's default weight 1, the entry's overriding, reverse negating it, 0 for FAULT on anything but 0": {
		texts: []string{"a", tracks("track_file maint {\n  file /run/vrrp/maint\n}\nvrrp_track_file prio {\n  file \"/run/vrrp/prio\"\n  weight -5 reverse\n}\ntrack_file down {\n  file /run/vrrp/down\n  weight 0\n}\n",
			"  track_file {\n    maint weight -100\n    prio\n    down\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "maint", Weight: w(-100), File: &vrrpv1.FileCheck{Path: "/run/vrrp/maint"}},
			{Name: "prio", Weight: w(5), File: &vrrpv1.FileCheck{Path: "/run/vrrp/prio"}},
			{Name: "down", File: &vrrpv1.FileCheck{Path: "/run/vrrp/down"}},
		},
		report: []string{"a.conf:4: note: track_file prio: reverse is the weight negated: 5"},
	},
	"a track_file weight beyond ±253 becomes ±253, reported; init_file is reported": {
		texts: []string{"a", tracks("track_file maint {\n  file /run/vrrp/maint\n  init_file 0\n}\n", "  track_file {\n    maint weight 254\n  }\n")},
		want:  []vrrpv1.Check{{Name: "maint", Weight: w(253), File: &vrrpv1.FileCheck{Path: "/run/vrrp/maint"}}},
		report: []string{
			"a.conf:3: not converted: init_file: the agent does not create or write the file: create it (e.g. echo 0 > /run/vrrp/maint) where the agent reads it",
			"a.conf:11: not converted: track_file maint: weight 254: a check's weight is from -253 to 253; it becomes 253 (the file's number times the weight moves the priority; -254 or less is FAULT)",
		},
	},
	"check names are DNS labels; a second check of the same name is numbered": {
		texts: []string{"a", tracks("vrrp_script ETH1 {\n  script \"nc -z 198.51.100.10 22\"\n}\n", "  track_script {\n    ETH1\n  }\n  track_interface {\n    eth1\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "eth1", TCP: &vrrpv1.TCPCheck{Address: "198.51.100.10:22"}},
			{Name: "eth1-2", Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
		},
		report: []string{`a.conf:2: note: script: "nc -z 198.51.100.10 22" connects to 198.51.100.10:22 and exits: a tcp check of 198.51.100.10:22 does the same`},
	},
	"tracking what is not defined is ignored as keepalived ignores it, and reported; a definition nothing tracks is noted": {
		texts: []string{"a", tracks("vrrp_script chk_unused {\n  script /bin/true\n}\ntrack_file spare {\n  file /run/spare\n}\n", "  track_script {\n    chk_missing\n  }\n  track_file {\n    missing\n  }\n")},
		report: []string{
			"a.conf:1: note: vrrp_script chk_unused: no vrrp_instance tracks it, so keepalived does not run it; nothing to convert",
			"a.conf:4: note: track_file spare: no vrrp_instance tracks it; nothing to convert",
			"a.conf:13: not converted: track_script chk_missing: no vrrp_script chk_missing; keepalived ignores it, and so does the VirtualIP",
			"a.conf:16: not converted: track_file missing: no track_file missing block; keepalived ignores it, and so does the VirtualIP",
		},
	},
	"processes, BFD and dont_track_primary have no counterpart": {
		texts: []string{"a", tracks("vrrp_track_process haproxy {\n  process haproxy\n}\n", "  track_process {\n    haproxy\n  }\n  track_bfd {\n    bfd1\n  }\n  dont_track_primary\n")},
		report: []string{
			"a.conf:1: not converted: vrrp_track_process: tracking processes has no counterpart: an exec check (a program in the hook directory) or, in a cluster, a pods check on the process's pods can stand for it",
			"a.conf:9: not converted: track_process: tracking processes has no counterpart: an exec check (a program in the hook directory) or, in a cluster, a pods check on the process's pods can stand for it",
			"a.conf:12: not converted: track_bfd: BFD is not supported",
			"a.conf:15: not converted: dont_track_primary: the agent always follows its interface: the router is in FAULT while the interface is down",
		},
	},
	"nodes that track differently are reported, and the first node's checks are taken": {
		texts: []string{
			"a", tracks("", "  track_interface {\n    eth1 weight -10\n  }\n"),
			"b", tracks("", "  track_interface {\n    eth2 weight -10\n  }\n"),
		},
		want: []vrrpv1.Check{{Name: "eth1", Weight: w(-10), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}}},
		report: []string{
			"a.conf:1: not converted: vrrp_instance VI_1: the nodes track differently (b unlike a: the scripts, interfaces or files, or their settings): a VirtualIP runs the same checks on every node; it takes a's",
		},
	},
	"keepalived's weights do not move the address owner's priority 255; the VirtualIP's 254 moves, reported": {
		texts: []string{"a", tracks("", "  priority 255\n  track_interface {\n    eth1 weight -10\n    eth2\n  }\n")},
		want: []vrrpv1.Check{
			{Name: "eth1", Weight: w(-10), Interface: &vrrpv1.InterfaceCheck{Name: "eth1"}},
			{Name: "eth2", Interface: &vrrpv1.InterfaceCheck{Name: "eth2"}},
		},
		report: []string{
			"a.conf:1: not converted: vrrp_instance VI_1: keepalived's weights never move the address owner's priority 255 (on a); the weighted checks move this node's 254",
			"a.conf:6: not converted: priority 255 (the address owner's) becomes 254: the agent owns no address and preempts by priority",
		},
	},
	"nodes that track alike convert completely": {
		texts: []string{
			"a", tracks("vrrp_script chk {\n  script \"nc -z 203.0.113.10 5432\"\n}\n", "  priority 150\n  track_script {\n    chk weight -60\n  }\n"),
			"b", tracks("vrrp_script chk {\n  script \"nc -z 203.0.113.10 5432\"\n}\n", "  track_script {\n    chk weight -60\n  }\n"),
		},
		want:   []vrrpv1.Check{{Name: "chk", Weight: w(-60), TCP: &vrrpv1.TCPCheck{Address: "203.0.113.10:5432"}}},
		report: []string{`a.conf:2: note: script: "nc -z 203.0.113.10 5432" connects to 203.0.113.10:5432 and exits: a tcp check of 203.0.113.10:5432 does the same`, `b.conf:2: note: script: "nc -z 203.0.113.10 5432" connects to 203.0.113.10:5432 and exits: a tcp check of 203.0.113.10:5432 does the same`},
	},
}

// TestTracking converts keepalived's vrrp_script, track_script, track_interface and track_file
// into spec.track with keepalived's semantics, and reports what has no counterpart.
// TestTrackingConvertsToObjectsTheAPIServerAccepts holds the same results to the CRD.
func TestTracking(t *testing.T) {
	for name, tc := range trackingCases {
		t.Run(name, func(t *testing.T) {
			res, dir, err := convertTexts(t, tc.o, tc.texts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.VirtualIPs) != 1 {
				t.Fatalf("got %d VirtualIPs, want 1", len(res.VirtualIPs))
			}
			if diff := cmp.Diff(tc.want, res.VirtualIPs[0].Spec.Track); diff != "" {
				t.Errorf("spec.track (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.report, report(res, dir)); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
			if complete := !strings.Contains(strings.Join(tc.report, "\n"), "not converted"); res.Complete() != complete {
				t.Errorf("Complete() = %v, want %v", res.Complete(), complete)
			}
			var keys []string
			if res.ConfigMap != nil {
				for k := range res.ConfigMap.Data {
					keys = append(keys, k)
				}
				slices.Sort(keys)
			}
			if diff := cmp.Diff(tc.programs, keys); diff != "" {
				t.Errorf("ConfigMap keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlaceholdersSayWhatKeepalivedRan holds the ConfigMap stub's placeholders for programs that
// are not a script to copy: what keepalived ran goes into a comment, quotes and all, never into
// the shell line.
func TestPlaceholdersSayWhatKeepalivedRan(t *testing.T) {
	res, _, err := convertTexts(t, Options{HooksConfigMap: DefaultHooksConfigMap}, "a",
		tracks("vrrp_script chk_a {\n  script \"pidof haproxy\"\n}\nvrrp_script chk_b {\n  script \"<'/dev/tcp/x'\"\n}\n", "  track_script {\n    chk_a\n    chk_b\n  }\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pidof": "#!/bin/sh\n# Placeholder: keepalived ran pidof from its PATH; replace with a program that does its work.\necho 'pidof: placeholder, not yet written into ConfigMap vrrp-operator-hooks' >&2\nexit 1\n",
		"chk-b": "#!/bin/sh\n# Placeholder: keepalived ran, with /bin/sh -c: <'/dev/tcp/x'; replace with a program that does its work.\necho 'chk-b: placeholder, not yet written into ConfigMap vrrp-operator-hooks' >&2\nexit 1\n",
	}
	if diff := cmp.Diff(want, res.ConfigMap.Data); diff != "" {
		t.Errorf("ConfigMap data (-want +got):\n%s", diff)
	}
}

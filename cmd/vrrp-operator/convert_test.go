package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
)

// TestConvertExitStatus holds `vrrp-operator convert` to the exit statuses scripts rely on: 0
// when every directive is converted, 3 when the manifests are written but something was not
// converted, 1 with nothing written when the input cannot be converted, 2 for bad usage.
func TestConvertExitStatus(t *testing.T) {
	seed := filepath.Join("..", "..", "convert", "keepalived", "testdata", "seed")
	dir := t.TempDir()
	writeConf := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	instance := "vrrp_instance VI_1 {\n  virtual_router_id 51\n  virtual_ipaddress {\n    198.51.100.252/24\n  }\n"
	unmapped := writeConf("vmac.conf", instance+"  use_vmac\n}\n")
	script := "vrrp_script chk_web {\n  script \"curl -fs http://198.51.100.10:8404/healthz\"\n  weight -60\n}\n"
	tracked := writeConf("tracked.conf", script+instance+"  track_interface {\n    eth1 weight -10\n  }\n  track_script {\n    chk_web\n  }\n}\n")
	reversed := writeConf("reversed.conf", script+instance+"  track_script {\n    chk_web weight 10 reverse\n  }\n}\n")
	broken := writeConf("broken.conf", instance)
	upper := writeConf("Upper_Case.conf", instance+"}\n")
	if err := os.MkdirAll(filepath.Join(dir, "etc", "keepalived"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeConf(filepath.Join("etc", "keepalived", "vi.conf"), instance+"}\n")
	includes := writeConf("includes.conf", "include /etc/keepalived/vi.conf\n")
	partial := writeConf("partial.conf", "include /nonexistent-vrrp-test/*.conf\n"+instance+"}\n")

	cases := map[string]struct {
		args     []string
		code     int
		stdout   bool     // manifests written
		stderr   []string // each in stderr
		yaml     []string // each in stdout
		loadable bool     // stdout loads in the standalone agent
	}{
		"the seed converts completely, node names from the file names": {
			args: []string{filepath.Join(seed, "primary.conf"), filepath.Join(seed, "secondary.conf")}, code: 0, stdout: true,
			stderr: []string{"primary.conf:4: note: state MASTER", "1 VirtualIP(s) from 2 node(s); 0 not converted, 5 note(s)"},
		},
		"--standalone leaves the hook ConfigMap out, so that the agent's --config takes the stream; flags may follow files": {
			args: []string{"--node", "primary=" + filepath.Join(seed, "primary.conf"), filepath.Join(seed, "secondary.conf"), "--standalone", "--name", "VI_1=services"},
			code: 0, stdout: true, loadable: true,
		},
		"a directive not converted is reported and the status is 3": {
			args: []string{"--node", "a=" + unmapped}, code: 3, stdout: true,
			stderr: []string{"vmac.conf:6: not converted: use_vmac", "1 not converted"},
		},
		"keepalived's tracking that has a counterpart converts completely: the status is 0": {
			args: []string{"--node", "a=" + tracked}, code: 0, stdout: true,
			stderr: []string{`tracked.conf:2: note: script: "curl -fs http://198.51.100.10:8404/healthz" gets`, "0 not converted"},
			yaml:   []string{"  track:\n  - interface:\n      name: eth1\n    name: eth1\n    weight: -10\n  - http:\n      url: http://198.51.100.10:8404/healthz\n    name: chk-web\n    weight: -60\n"},
		},
		"tracking without a counterpart (weight reverse) is reported and the status is 3": {
			args: []string{"--node", "a=" + reversed}, code: 3, stdout: true,
			stderr: []string{"reversed.conf:11: not converted: track_script chk_web: weight 10 reverse", "1 not converted"},
		},
		"an input that cannot be converted writes nothing and the status is 1": {
			args: []string{"--node", "a=" + broken}, code: 1,
			stderr: []string{"broken.conf:1: the block of vrrp_instance is not closed"},
		},
		"an include that matches nothing is not converted and the status is 3": {
			args: []string{"--node", "a=" + partial}, code: 3, stdout: true,
			stderr: []string{"partial.conf:1: not converted: include /nonexistent-vrrp-test/*.conf matches no file", "1 not converted"},
		},
		"no vrrp_instance converted is an error, naming the include that matched nothing": {
			args: []string{"--node", "a=" + includes, "--root", filepath.Join(dir, "nothing")}, code: 1,
			stderr: []string{"no vrrp_instance to convert; includes matched no file at " + includes + ":1"},
		},
		"--root reads absolute includes under a directory": {
			args: []string{"--node", "a=" + includes, "--root", dir}, code: 0, stdout: true,
			stderr: []string{"1 VirtualIP(s) from 1 node(s); 0 not converted"},
		},
		"--name for an instance no node has": {
			args: []string{"--node", "a=" + tracked, "--name", "VI_9=x"}, code: 2,
			stderr: []string{"--name VI_9: no node has this vrrp_instance"},
		},
		"a file whose name is no node name needs --node": {
			args: []string{upper}, code: 2, stderr: []string{`"upper_case" is not a node name`, "use --node NAME="},
		},
		"a node given twice": {
			args: []string{"--node", "a=" + tracked, "--node", "a=" + broken}, code: 2, stderr: []string{"node a is given twice"},
		},
		"--node without a file": {
			args: []string{"--node", "a"}, code: 2, stderr: []string{`--node "a": want NAME=FILE`},
		},
		"no file at all": {
			code: 2, stderr: []string{"usage: vrrp-operator convert"},
		},
		"an unknown flag": {
			args: []string{"--frobnicate"}, code: 2, stderr: []string{"flag provided but not defined: -frobnicate"},
		},
		"help": {
			args: []string{"-h"}, code: 0, stderr: []string{"Exit status: 0 all converted, 3 converted with directives not converted"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := convertMain(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.code, &stderr)
			}
			if wrote := stdout.Len() > 0; wrote != tc.stdout {
				t.Errorf("manifests written: %v, want %v:\n%s", wrote, tc.stdout, &stdout)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
			for _, s := range tc.yaml {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			if tc.loadable {
				objs, err := manifests.Load(&stdout)
				if err != nil {
					t.Fatalf("the standalone agent refuses the output: %v", err)
				}
				if len(objs.VirtualIPs) != 1 || objs.VirtualIPs[0].Name != "services" || len(objs.Secrets) != 1 {
					t.Errorf("loaded %d VirtualIPs (%v) and %d Secrets, want VirtualIP services and one Secret", len(objs.VirtualIPs), objs.VirtualIPs, len(objs.Secrets))
				}
			}
		})
	}
}

package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vipSpec is the part of a VirtualIP the tests vary.
type vipSpec struct {
	name       string
	vrid       int
	version    int
	addresses  []string
	interval   string         // advertInterval
	priority   int            // spec.priority; 0: the default
	priorities map[string]int // nodePriorities by node name
	noPreempt  bool
	unicast    bool
	password   string // PASS authentication with version 2
	checksum   string // v3IPv4Checksum
	seedHooks  bool   // the seed's notify and notify_stop, as in config/samples/standalone-seed.yaml
	track      []trackCheck
}

// trackCheck is one spec.track entry; exactly one of exec, http, tcp, iface and file is set.
type trackCheck struct {
	name              string
	weight            int    // 0: none, a failure puts the router in FAULT
	interval, timeout string // "": the defaults
	rise, fall        int    // 0: the defaults
	exec              []string
	http              string // url
	tcp               string // IP:port
	iface             string
	file              string
}

// yaml writes the check as an item of spec.track.
func (c trackCheck) yaml(b *strings.Builder) {
	fmt.Fprintf(b, "  - name: %s\n", c.name)
	if c.weight != 0 {
		fmt.Fprintf(b, "    weight: %d\n", c.weight)
	}
	if c.interval != "" {
		fmt.Fprintf(b, "    interval: %s\n", c.interval)
	}
	if c.timeout != "" {
		fmt.Fprintf(b, "    timeout: %s\n", c.timeout)
	}
	if c.rise != 0 {
		fmt.Fprintf(b, "    rise: %d\n", c.rise)
	}
	if c.fall != 0 {
		fmt.Fprintf(b, "    fall: %d\n", c.fall)
	}
	switch {
	case len(c.exec) > 0:
		q := make([]string, len(c.exec))
		for i, a := range c.exec {
			q[i] = fmt.Sprintf("%q", a)
		}
		fmt.Fprintf(b, "    exec: {command: [%s]}\n", strings.Join(q, ", "))
	case c.http != "":
		fmt.Fprintf(b, "    http: {url: %q}\n", c.http)
	case c.tcp != "":
		fmt.Fprintf(b, "    tcp: {address: %q}\n", c.tcp)
	case c.iface != "":
		fmt.Fprintf(b, "    interface: {name: %s}\n", c.iface)
	case c.file != "":
		fmt.Fprintf(b, "    file: {path: %q}\n", c.file)
	}
}

// nodeObj is a Node object of the manifest: its InternalIPs are the unicast peers.
type nodeObj struct {
	name        string
	internalIPs []string
}

// writeManifests writes the YAML stream an agent reads with --config and returns its path.
func writeManifests(t testing.TB, vips []vipSpec, nodes []nodeObj) string {
	t.Helper()
	var b strings.Builder
	for _, v := range vips {
		fmt.Fprintf(&b, "---\napiVersion: vrrp.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: %s}\nspec:\n", v.name)
		fmt.Fprintf(&b, "  virtualRouterID: %d\n  version: %d\n  addresses: [%s]\n  advertInterval: %s\n",
			v.vrid, v.version, strings.Join(v.addresses, ", "), v.interval)
		if v.priority != 0 {
			fmt.Fprintf(&b, "  priority: %d\n", v.priority)
		}
		if len(v.priorities) > 0 {
			b.WriteString("  nodePriorities:\n")
			names := make([]string, 0, len(v.priorities))
			for n := range v.priorities {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				fmt.Fprintf(&b, "  - {node: %s, priority: %d}\n", n, v.priorities[n])
			}
		}
		if v.noPreempt {
			b.WriteString("  preempt: false\n")
		}
		if v.unicast {
			b.WriteString("  unicast: true\n")
		}
		if v.checksum != "" {
			fmt.Fprintf(&b, "  v3IPv4Checksum: %s\n", v.checksum)
		}
		if v.password != "" {
			fmt.Fprintf(&b, "  authentication: {type: PASS, secretRef: {name: %s-auth, namespace: vrrp-system}}\n", v.name)
		}
		if v.seedHooks {
			b.WriteString("  hooks:\n    notify: {command: [keepalived.sh]}\n    stop: {command: [keepalived.sh, \"0\", VI_1, STOP]}\n")
		}
		if len(v.track) > 0 {
			b.WriteString("  track:\n")
			for _, c := range v.track {
				c.yaml(&b)
			}
		}
		if v.password != "" {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s-auth, namespace: vrrp-system}\nstringData: {password: %s}\n", v.name, v.password)
		}
	}
	for _, n := range nodes {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Node\nmetadata: {name: %s}\nstatus:\n  addresses:\n", n.name)
		for _, ip := range n.internalIPs {
			fmt.Fprintf(&b, "  - {type: InternalIP, address: %q}\n", ip)
		}
	}
	path := filepath.Join(t.TempDir(), "vrrp.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// addrOf returns the address of a CIDR string.
func addrOf(cidr string) string { return netip.MustParsePrefix(cidr).Addr().String() }

// seedHook is the seed's /usr/local/sbin/keepalived.sh in a hook directory of its own, without the
// mail and the VPN: it keeps the case statement and writes the master flag (1 on MASTER, 0
// otherwise) to a file of the test rather than /tmp/master_status. It also appends its arguments
// to a call log, to check the order they come in.
type seedHook struct {
	dir, script, flag, calls string
}

const seedScript = `#!/bin/bash
# The seed's keepalived.sh: flag semantics kept, mail and VPN stripped.

TYPE=$1
NAME=$2
STATE=$3

echo "$*" >> %[2]q

function disableMaster(){
  echo 0 > %[1]q
}

function enableMaster(){
  echo 1 > %[1]q
}

case $STATE in
        "MASTER") enableMaster
                  exit 0
                  ;;
        "BACKUP") disableMaster
                  exit 0
                  ;;
        "STOP")   disableMaster
                  exit 0
                  ;;
        "FAULT")  disableMaster
                  exit 1
                  ;;
        *)        disableMaster
                  exit 1
                  ;;
esac
`

func newSeedHook(t testing.TB) *seedHook {
	t.Helper()
	data := t.TempDir()
	h := &seedHook{dir: t.TempDir(), flag: filepath.Join(data, "master_status"), calls: filepath.Join(data, "calls")}
	h.script = filepath.Join(h.dir, "keepalived.sh")
	if err := os.WriteFile(h.script, []byte(fmt.Sprintf(seedScript, h.flag, h.calls)), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// value is the flag file's content, "" when it does not exist yet.
func (h *seedHook) value() string {
	b, _ := os.ReadFile(h.flag)
	return strings.TrimSpace(string(b))
}

// callLog returns the argument lists the script was called with, in order.
func (h *seedHook) callLog() []string {
	b, _ := os.ReadFile(h.calls)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// kaSpec is one keepalived vrrp_instance.
type kaSpec struct {
	version     int
	state       string // MASTER or BACKUP
	iface       string
	vrid        int
	priority    int
	interval    string // advert_int
	password    string
	vip         string
	unicastSrc  string
	unicastPeer string
	hook        *seedHook
	scripts     []kaScript // vrrp_script blocks, all in the instance's track_script
}

// kaScript is a keepalived vrrp_script; its times are whole seconds, as keepalived 2.2 reads them.
type kaScript struct {
	name, script       string
	interval, timeout  int
	weight, rise, fall int
}

// keepalivedConfig writes the seed's vrrp_instance VI_1 with the settings of k.
func keepalivedConfig(k kaSpec) string {
	var b strings.Builder
	b.WriteString("global_defs {\n")
	if k.hook != nil || len(k.scripts) > 0 {
		b.WriteString("  enable_script_security\n  script_user root\n")
	}
	if k.version == 3 {
		b.WriteString("  vrrp_version 3\n")
	}
	b.WriteString("}\n\n")
	for _, s := range k.scripts {
		fmt.Fprintf(&b, "vrrp_script %s {\n  script %q\n  interval %d\n  timeout %d\n  weight %d\n  rise %d\n  fall %d\n}\n\n",
			s.name, s.script, s.interval, s.timeout, s.weight, s.rise, s.fall)
	}
	b.WriteString("vrrp_instance VI_1 {\n")
	fmt.Fprintf(&b, "  state %s\n  interface %s\n  virtual_router_id %d\n  priority %d\n  advert_int %s\n",
		k.state, k.iface, k.vrid, k.priority, k.interval)
	if k.password != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", k.password)
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n", k.vip)
	if k.unicastSrc != "" {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n  unicast_peer {\n    %s\n  }\n", k.unicastSrc, k.unicastPeer)
	}
	if k.hook != nil {
		fmt.Fprintf(&b, "  notify %s\n  notify_stop \"%s 0 VI_1 STOP\"\n", k.hook.script, k.hook.script)
	}
	if len(k.scripts) > 0 {
		b.WriteString("  track_script {\n")
		for _, s := range k.scripts {
			fmt.Fprintf(&b, "    %s\n", s.name)
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	return b.String()
}

package keepalived

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/convert/keepalived/conf"
)

// Node is one node's keepalived configuration.
type Node struct {
	Name string // the Kubernetes node name, as the agent's --node-name
	File string
}

// Options say what to read and where the objects go.
type Options struct {
	Nodes []Node
	// ConfigID is keepalived's --config-id for every node; empty: each node's name, as keepalived
	// defaults it to the host name.
	ConfigID string
	// Namespace of the Secret and the hook ConfigMap: the agents' namespace, where they read
	// Secrets.
	Namespace string
	// SecretName is the Secret that holds the PASS passwords.
	SecretName string
	// HooksConfigMap names the ConfigMap stub of hook programs; empty: no ConfigMap (standalone
	// agents take hooks from their --hook-dir).
	HooksConfigMap string
	// Names maps vrrp_instance names to VirtualIP names; the others are derived (VI_1 -> vi-1).
	Names map[string]string
	// Root is the directory absolute include paths are read under (the nodes' / copied to this
	// machine); empty: /.
	Root string
	// Standalone: the objects are for standalone agents, which learn unicast peers only from Node
	// objects in their --config.
	Standalone bool
}

// ErrUnknownInstance is returned when Options.Names names a vrrp_instance no node has.
var ErrUnknownInstance = errors.New("no node has this vrrp_instance")

// Default names.
const (
	DefaultNamespace      = "vrrp-system"
	DefaultSecretName     = "vrrp-auth"
	DefaultHooksConfigMap = "vrrp-operator-hooks"
)

// Severity says whether the manifests carry a directive's meaning.
type Severity int

const (
	// Note: converted, or without meaning for the agent; the reader should still know.
	Note Severity = iota
	// Unmapped: the manifests lack what the directive meant.
	Unmapped
)

func (s Severity) String() string {
	if s == Unmapped {
		return "not converted"
	}
	return "note"
}

// Finding is one report line.
type Finding struct {
	Pos      conf.Pos
	Severity Severity
	Text     string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Pos, f.Severity, f.Text) }

// Result is what a conversion produced.
type Result struct {
	VirtualIPs []vrrpv1.VirtualIP
	Secret     *corev1.Secret    // nil without PASS authentication
	ConfigMap  *corev1.ConfigMap // nil without hooks or without Options.HooksConfigMap
	// Sources are, per VirtualIP name, where its vrrp_instance was read on each node.
	Sources  map[string][]conf.Pos
	Findings []Finding
}

// Complete reports whether every directive was converted.
func (r *Result) Complete() bool {
	return !slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity == Unmapped })
}

// Keepalived's defaults (keepalived.conf(5)) where they differ from the VirtualIP CRD's.
const (
	keepalivedVersion  = vrrpv1.VRRPv2 // global_defs vrrp_version
	keepalivedPriority = 100
	keepalivedAdvert   = time.Second
)

// Convert reads every node's configuration and converts it. The error lists what makes a
// conversion impossible (a file that does not parse, nodes that disagree on a shared setting, a
// result the API server would refuse); findings are in the Result.
func Convert(o Options) (*Result, error) {
	if len(o.Nodes) == 0 {
		return nil, errors.New("no keepalived configuration to convert")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.SecretName == "" {
		o.SecretName = DefaultSecretName
	}
	c := &converter{o: o, seen: map[string]bool{}, hooks: map[string]hookProgram{}, files: map[string]int{}}
	var order, missing []string
	byName := map[string][]*nodeInstance{}
	for _, n := range o.Nodes {
		id := o.ConfigID
		if id == "" {
			id = n.Name
		}
		cfg, err := conf.Parse(n.File, conf.Options{ConfigID: id, Root: o.Root})
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		for _, f := range cfg.Files {
			if _, ok := c.files[f]; !ok {
				c.files[f] = len(c.files)
			}
		}
		for _, w := range cfg.Warnings {
			if w.Missing {
				missing = append(missing, w.Pos.String())
				c.unmapped(w.Pos, "%s", w.Text)
				continue
			}
			c.note(w.Pos, "%s", w.Text)
		}
		for _, in := range c.node(n.Name, cfg) {
			if _, ok := byName[in.name]; !ok {
				order = append(order, in.name)
			}
			if prev := byName[in.name]; len(prev) > 0 && prev[len(prev)-1].node == n.Name {
				c.fail(in.pos, "vrrp_instance %s is defined twice (also at %s)", in.name, prev[len(prev)-1].pos)
				continue
			}
			byName[in.name] = append(byName[in.name], in)
		}
	}
	var unknown []string
	for inst := range o.Names {
		if _, ok := byName[inst]; !ok {
			unknown = append(unknown, inst)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("--name %s: %w", strings.Join(unknown, ", "), ErrUnknownInstance)
	}
	res := &Result{Sources: map[string][]conf.Pos{}}
	passwords := map[string]string{} // VirtualIP name -> password
	names := map[string]string{}     // VirtualIP name -> instance
	for _, iname := range order {
		v, password, ok := c.merge(byName[iname])
		if !ok {
			continue
		}
		if prev, dup := names[v.Name]; dup {
			c.fail(byName[iname][0].pos, "vrrp_instance %s and %s would both be VirtualIP %s: name one with --name %s=NAME", prev, iname, v.Name, iname)
			continue
		}
		names[v.Name] = iname
		for _, in := range byName[iname] {
			res.Sources[v.Name] = append(res.Sources[v.Name], in.pos)
		}
		if password != "" {
			passwords[v.Name] = password
		}
		res.VirtualIPs = append(res.VirtualIPs, v)
	}
	res.Secret = c.secret(res.VirtualIPs, passwords)
	res.ConfigMap = c.configMap()
	for i := range res.VirtualIPs {
		v := res.VirtualIPs[i].DeepCopy()
		manifests.Default(v)
		if err := manifests.Validate(v); err != nil {
			c.fail(res.Sources[v.Name][0], "the converted VirtualIP would be refused: %v", err)
		}
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	if len(res.VirtualIPs) == 0 {
		msg := "no vrrp_instance to convert"
		if len(missing) > 0 {
			msg += fmt.Sprintf("; includes matched no file at %s (absolute paths are looked up on this machine: --root DIR reads them under DIR)", strings.Join(missing, ", "))
		}
		return nil, errors.New(msg)
	}
	// By file, in the order the nodes' files were read, then by line.
	res.Findings = c.findings
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i].Pos, res.Findings[j].Pos
		if a.File != b.File {
			return c.files[a.File] < c.files[b.File]
		}
		return a.Line < b.Line
	})
	return res, nil
}

type converter struct {
	o        Options
	findings []Finding
	seen     map[string]bool
	errs     []error
	files    map[string]int         // file -> the order it was read in, for the report
	hooks    map[string]hookProgram // hook program name -> what it stands for
	hookKeys []string
}

func (c *converter) report(pos conf.Pos, sev Severity, format string, args ...any) {
	f := Finding{Pos: pos, Severity: sev, Text: fmt.Sprintf(format, args...)}
	// Nodes that share a file (conditional configuration) would say the same twice.
	if key := f.String(); !c.seen[key] {
		c.seen[key] = true
		c.findings = append(c.findings, f)
	}
}

func (c *converter) note(pos conf.Pos, format string, args ...any) {
	c.report(pos, Note, format, args...)
}

func (c *converter) unmapped(pos conf.Pos, format string, args ...any) {
	c.report(pos, Unmapped, format, args...)
}

func (c *converter) fail(pos conf.Pos, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

// globals are the global_defs settings instances inherit.
type globals struct {
	version vrrpv1.VRRPVersion
	garp    garp // vrrp_garp_interval is for IPv4 routers only
	// gna is vrrp_gna_interval, the IPv6 routers' counterpart of vrrp_garp_interval.
	gna *time.Duration
	// strict is vrrp_strict, under which keepalived ignores authentication.
	strict bool
}

// garp holds the GARP settings keepalived has counterparts for in spec.garp.
type garp struct {
	count             int32
	interval, refresh *time.Duration
}

func (g garp) over(base garp) garp {
	if g.count == 0 {
		g.count = base.count
	}
	if g.interval == nil {
		g.interval = base.interval
	}
	if g.refresh == nil {
		g.refresh = base.refresh
	}
	return g
}

// nodeInstance is one vrrp_instance as one node's file has it.
type nodeInstance struct {
	node     string
	name     string
	pos      conf.Pos
	spec     vrrpv1.VirtualIPSpec // the shared part: no priority, no interface
	password string
	priority int32
	iface    string
	// master is `state MASTER`; preempt and preemptDelay are kept out of spec because keepalived
	// lets each node have its own, which a VirtualIP cannot say.
	master       bool
	preempt      *bool
	preemptDelay *metav1.Duration
	// track is kept out of spec for the same reason: the nodes' files may track differently.
	track tracked
	owner bool // priority 255 in keepalived, whose tracking weights do not move it
}

// Unconverted top-level blocks and settings, with why.
var topLevel = map[string]string{
	"virtual_server":       "LVS virtual servers are not managed by vrrp-operator",
	"virtual_server_group": "LVS virtual servers are not managed by vrrp-operator",
	"vrrp_sync_group":      "sync groups are not supported: each VirtualIP fails over on its own",
	"vrrp_track_process":   "tracking processes has no counterpart: an exec check (a program in the hook directory) or, in a cluster, a pods check on the process's pods can stand for it",
	"linkbeat_interfaces":  "tracking links by polling is not supported",
	"bfd_instance":         "BFD is not supported",
	"garp_group":           "GARP groups are not supported",
	"static_ipaddress":     "static addresses are not managed by vrrp-operator",
	"static_routes":        "static routes are not managed by vrrp-operator",
	"static_rules":         "static rules are not managed by vrrp-operator",
	"net_namespace":        "the agent runs in the node's network namespace",
	"net_namespace_ipvs":   "the agent runs in the node's network namespace",
}

// Daemon settings that mean nothing for VirtualIPs.
var daemonOnly = []string{"instance", "use_pid_dir", "child_wait_time", "linkbeat_use_polling", "namespace_with_ipsets"}

// node converts one node's configuration into its instances.
func (c *converter) node(name string, cfg *conf.Config) []*nodeInstance {
	g := globals{version: keepalivedVersion}
	for _, d := range cfg.Directives {
		if d.Keyword() == "global_defs" {
			c.globalDefs(d, &g)
		}
	}
	defs := c.collectDefinitions(cfg)
	var out []*nodeInstance
	for _, d := range cfg.Directives {
		switch k := d.Keyword(); {
		case k == "global_defs", k == "vrrp_script", k == "track_file", k == "vrrp_track_file":
		case k == "vrrp_instance":
			if in := c.instance(name, d, g, defs); in != nil {
				out = append(out, in)
			}
		case topLevel[k] != "":
			c.unmapped(d.Pos, "%s: %s", k, topLevel[k])
		case slices.Contains(daemonOnly, k):
			c.note(d.Pos, "%s: a keepalived daemon setting, without meaning for the agent", k)
		default:
			c.unmapped(d.Pos, "%s: unknown keyword", k)
		}
	}
	c.reportUnused(defs)
	return out
}

func (c *converter) globalDefs(d *conf.Directive, g *globals) {
	for _, s := range d.Block {
		switch k := s.Keyword(); k {
		case "vrrp_version":
			if v, ok := c.version(s); ok {
				g.version = v
			}
		case "router_id":
			c.note(s.Pos, "router_id: names the host in keepalived's logs and mail; the agent goes by its node name")
		case "notification_email", "notification_email_from", "smtp_server", "smtp_helo_name", "smtp_connect_timeout":
			c.note(s.Pos, "%s: mail settings; the agent sends no mail (only smtp_alert would use them)", k)
		case "smtp_alert", "smtp_alert_vrrp":
			c.smtpAlert(s)
		case "enable_script_security", "script_user":
			c.note(s.Pos, "%s: hooks run as the agent, and only programs in its hook directory", k)
		case "vrrp_garp_master_repeat", "vrrp_garp_interval", "vrrp_garp_master_refresh":
			c.garpSetting(s, strings.TrimPrefix(k, "vrrp_"), &g.garp)
		case "vrrp_gna_interval":
			var gna garp
			c.garpSetting(s, "garp_interval", &gna)
			g.gna = gna.interval
		case "vrrp_strict":
			g.strict = true
			c.unmapped(s.Pos, "vrrp_strict: keepalived then drops traffic to the VIPs of routers without accept (firewall rules) and refuses unicast peers; the agent does neither. It also ignores authentication (\"Strict mode does not support authentication. Ignoring.\"), and so does the VirtualIP")
		case "vrrp_mcast_group4", "vrrp_mcast_group6":
			// RFC 5798 §5.1.1.2 and §5.1.2.2: the IANA groups are the only ones the agent uses.
			if want := map[string]string{"vrrp_mcast_group4": "224.0.0.18", "vrrp_mcast_group6": "ff02::12"}[k]; len(s.Args()) != 1 || s.Args()[0] != want {
				c.unmapped(s.Pos, "%s: the agent advertises to the IANA group %s only", k, want)
			}
		default:
			if strings.HasPrefix(k, "vrrp_garp_") || k == "vrrp_lower_prio_no_advert" {
				c.unmapped(s.Pos, "%s: spec.garp has no counterpart (it has count, interval and refresh)", k)
				continue
			}
			c.unmapped(s.Pos, "%s: global setting not converted", k)
		}
	}
}

func (c *converter) smtpAlert(s *conf.Directive) {
	if on, ok := boolArg(s.Args()); ok && !on {
		return
	}
	c.unmapped(s.Pos, "%s: the agent sends no mail; a notify hook can", s.Keyword())
}

// boolArg reads keepalived's <BOOL>; no argument means true.
func boolArg(args []string) (bool, bool) {
	if len(args) == 0 {
		return true, true
	}
	switch strings.ToLower(args[0]) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

func (c *converter) version(s *conf.Directive) (vrrpv1.VRRPVersion, bool) {
	switch strings.Join(s.Args(), " ") {
	case "2":
		return vrrpv1.VRRPv2, true
	case "3":
		return vrrpv1.VRRPv3, true
	}
	c.unmapped(s.Pos, "%s: must be 2 or 3; keepalived ignores other values", s.Keyword())
	return 0, false
}

// instance converts one vrrp_instance block of one node.
func (c *converter) instance(node string, d *conf.Directive, g globals, defs definitions) *nodeInstance {
	if len(d.Args()) != 1 {
		c.fail(d.Pos, "vrrp_instance needs one name")
		return nil
	}
	in := &nodeInstance{node: node, name: d.Args()[0], pos: d.Pos, priority: keepalivedPriority}
	s := &in.spec
	var (
		version     vrrpv1.VRRPVersion
		versionPos  conf.Pos
		advert      = keepalivedAdvert
		advertPos   conf.Pos
		addresses   []*conf.Directive
		authPos     conf.Pos
		authType    string
		ig          garp
		priorityPos conf.Pos
		prioritySet bool
		statePos    conf.Pos
		preemptPos  []conf.Pos // nopreempt and preempt_delay
	)
	for _, x := range d.Block {
		k, args := x.Keyword(), x.Args()
		switch k {
		case "state":
			switch strings.Join(args, " ") {
			case "MASTER":
				in.master, statePos = true, x.Pos
				c.note(x.Pos, "state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)")
			case "BACKUP":
				in.master = false
			default:
				c.unmapped(x.Pos, "state: must be MASTER or BACKUP")
			}
		case "interface":
			if len(args) == 1 {
				in.iface = args[0]
			} else {
				c.unmapped(x.Pos, "interface needs one name")
			}
		case "virtual_router_id":
			if n, ok := c.integer(x, 1, 255); ok {
				s.VirtualRouterID = int32(n)
			}
		case "priority":
			if n, ok := c.integer(x, 1, 255); ok {
				in.priority, priorityPos, prioritySet = int32(n), x.Pos, true
			}
		case "advert_int":
			if d, ok := c.seconds(x, 0.01, 255); ok {
				advert, advertPos = d, x.Pos
			}
		case "version":
			if v, ok := c.version(x); ok {
				version, versionPos = v, x.Pos
			}
		case "virtual_ipaddress":
			addresses = append(addresses, x.Block...)
		case "virtual_ipaddress_excluded":
			c.unmapped(x.Pos, "virtual_ipaddress_excluded: every address of a VirtualIP is in its adverts; list these in another VirtualIP or in addresses")
		case "unicast_peer":
			s.Unicast = true
			if c.o.Standalone {
				// Without them every node is alone, and each becomes Master.
				c.unmapped(x.Pos, "unicast_peer: spec.unicast is set, but standalone agents send only to the Node objects of their --config, with InternalIPs, which this output does not hold: add one per node before you run it")
			} else {
				c.note(x.Pos, "unicast_peer: spec.unicast is set; the agents send to the other nodes' addresses from the cluster (status.nodes[].address, else InternalIP), not to this list")
			}
		case "unicast_src_ip":
			c.note(x.Pos, "unicast_src_ip: the agent sends from the node's InternalIP on the interface, else its address in the first VIP's subnet")
		case "nopreempt":
			f := false
			in.preempt = &f
			preemptPos = append(preemptPos, x.Pos)
		case "preempt":
			c.note(x.Pos, "preempt: preempting is the default, in keepalived and in the VirtualIP")
		case "accept":
			c.note(x.Pos, "accept: the agent's Master accepts packets to its addresses (RFC 9568 §6.1 Accept_Mode), as keepalived's accept does")
		case "preempt_delay":
			// keepalived refuses a delay beyond 1000 s and runs without one.
			if d, ok := c.seconds(x, 0, 1000); ok {
				in.preemptDelay = &metav1.Duration{Duration: d}
				preemptPos = append(preemptPos, x.Pos)
			}
		case "authentication":
			authPos = x.Pos
			for _, a := range x.Block {
				switch a.Keyword() {
				case "auth_type":
					authType = strings.Join(a.Args(), " ")
				case "auth_pass":
					if len(a.Args()) == 0 {
						c.unmapped(a.Pos, "auth_pass without a password")
						continue
					}
					in.password = a.Args()[0]
					if rest := a.Args()[1:]; len(rest) > 0 {
						// The seed's "auth_pass $ SOMEPASSWORDHERE" is the password "$".
						c.note(a.Pos, "auth_pass: keepalived takes the first word, %q, as the password, and ignores %q; so does the Secret", in.password, strings.Join(rest, " "))
					}
					if len(in.password) > maxPassword {
						// What keepalived sends, and compares: nodes that agree on these agree.
						c.note(a.Pos, "auth_pass: keepalived uses its first %d characters (RFC 3768 §5.3.6), and so does the Secret", maxPassword)
						in.password = in.password[:maxPassword]
					}
				default:
					c.unmapped(a.Pos, "%s: unknown keyword", a.Keyword())
				}
			}
		case "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop":
			c.hook(x, s)
		case "notify_master_rx_lower_pri", "notify_deleted":
			c.unmapped(x.Pos, "%s: hooks run on becoming MASTER, BACKUP, FAULT and on stop only", k)
		case "track_script":
			c.trackScripts(x, defs, &in.track)
		case "track_interface":
			c.trackInterfaces(x, &in.track)
		case "track_file":
			c.trackFiles(x, defs, &in.track)
		case "track_process":
			c.unmapped(x.Pos, "track_process: %s", topLevel["vrrp_track_process"])
		case "track_bfd":
			c.unmapped(x.Pos, "track_bfd: BFD is not supported")
		case "promote_secondaries":
			c.note(x.Pos, "promote_secondaries: the agent adds back at once a VIP that the kernel removed with another of its subnet; for the node's other addresses, set net.ipv4.conf.<interface>.promote_secondaries=1 on the host as keepalived did (Debian's systemd sets it for every interface)")
		case "dont_track_primary":
			c.unmapped(x.Pos, "dont_track_primary: the agent always follows its interface: the router is in FAULT while the interface is down")
		// garp_interval and gna_interval are global only (vrrp_garp_interval, vrrp_gna_interval):
		// keepalived 2.2.7 ignores them in an instance, and they fall to "unknown keyword".
		case "garp_master_repeat", "garp_master_refresh":
			c.garpSetting(x, k, &ig)
		case "garp_master_delay", "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat", "lower_prio_no_advert":
			c.unmapped(x.Pos, "%s: spec.garp has no counterpart (it has count, interval and refresh)", k)
		case "use_vmac", "vmac_xmit_base":
			c.unmapped(x.Pos, "%s: virtual MAC interfaces are not supported; the VIPs go on the interface itself", k)
		case "virtual_routes", "virtual_rules":
			c.unmapped(x.Pos, "%s: routes and rules are not managed; a master and a backup hook can add and remove them", k)
		case "smtp_alert":
			c.smtpAlert(x)
		case "mcast_src_ip":
			c.unmapped(x.Pos, "mcast_src_ip: the agent advertises from the node's address on the interface")
		case "lvs_sync_daemon_interface":
			c.unmapped(x.Pos, "lvs_sync_daemon_interface: LVS is not managed by vrrp-operator")
		default:
			c.unmapped(x.Pos, "%s: unknown keyword", k)
		}
	}
	if s.VirtualRouterID == 0 {
		c.fail(d.Pos, "vrrp_instance %s has no virtual_router_id", in.name)
		return nil
	}
	if in.master && !prioritySet {
		// keepalived's default priority is 255 for state MASTER, 100 otherwise.
		in.priority, priorityPos = 255, statePos
		c.unmapped(priorityPos, "state MASTER without priority: keepalived's priority is then 255 (the address owner's); it becomes 254: the agent owns no address and preempts by priority")
		in.priority, in.owner = 254, true
	}
	if in.priority == 255 {
		c.unmapped(priorityPos, "priority 255 (the address owner's) becomes 254: the agent owns no address and preempts by priority")
		in.priority, in.owner = 254, true
	}
	if in.master && len(preemptPos) > 0 {
		for _, p := range preemptPos {
			c.note(p, "nopreempt and preempt_delay: keepalived ignores them with state MASTER (\"nopreempt will not work with initial state MASTER - clearing\"); this node preempts at once")
		}
		in.preempt, in.preemptDelay = nil, nil
	}
	s.Addresses = c.addresses(addresses, in.iface)
	if len(s.Addresses) == 0 {
		c.fail(d.Pos, "vrrp_instance %s has no virtual_ipaddress", in.name)
		return nil
	}
	ipv6 := strings.Contains(s.Addresses[0], ":")

	s.Version = g.version
	if version != 0 {
		s.Version = version
	}
	if ipv6 && s.Version == vrrpv1.VRRPv2 {
		if version != 0 {
			c.note(versionPos, "version 2 with IPv6 addresses: keepalived runs VRRPv3, and so does the VirtualIP")
		}
		s.Version = vrrpv1.VRRPv3
	}
	s.AdvertInterval = &metav1.Duration{Duration: c.interval(advert, s.Version, advertPos)}

	switch {
	case authType == "" && in.password == "":
	case s.Version == vrrpv1.VRRPv3:
		c.note(authPos, "authentication: VRRPv3 has none; keepalived ignores it, and so does the VirtualIP")
		in.password = ""
	case g.strict:
		// A keepalived node sends none: agents that sent PASS would refuse its adverts, and it
		// theirs, and both would be Master during a migration.
		c.note(authPos, "authentication: keepalived ignores it under vrrp_strict, and so does the VirtualIP")
		in.password = ""
	case authType == "PASS" && in.password != "":
		s.Authentication = &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
			SecretRef: vrrpv1.SecretKeyReference{Name: c.o.SecretName, Namespace: c.o.Namespace}}
	case authType == "AH":
		c.unmapped(authPos, "authentication: auth_type AH (IPsec AH, dropped in RFC 3768) is not supported; the VirtualIP has no authentication")
		in.password = ""
	default:
		c.unmapped(authPos, "authentication: needs auth_type PASS and an auth_pass; the VirtualIP has none")
		in.password = ""
	}
	base := g.garp
	if ipv6 {
		base.interval = g.gna
	}
	if gg := ig.over(base); gg != (garp{}) {
		s.GARP = &vrrpv1.GARP{Count: gg.count}
		if gg.interval != nil {
			s.GARP.Interval = &metav1.Duration{Duration: *gg.interval}
		}
		if gg.refresh != nil {
			s.GARP.Refresh = &metav1.Duration{Duration: *gg.refresh}
		}
	}
	return in
}

func (c *converter) integer(x *conf.Directive, lo, hi int) (int, bool) {
	if len(x.Args()) >= 1 {
		if n, err := strconv.Atoi(x.Args()[0]); err == nil && n >= lo && n <= hi {
			c.ignoredWords(x)
			return n, true
		}
	}
	c.unmapped(x.Pos, "%s: must be a whole number from %d to %d; keepalived refuses other values", x.Keyword(), lo, hi)
	return 0, false
}

// ignoredWords notes the words after a value, which keepalived reads no further than:
// "priority 120 advert_int 3" is priority 120, and advert_int stays what it was.
func (c *converter) ignoredWords(x *conf.Directive) {
	if rest := x.Args()[1:]; len(rest) > 0 {
		c.note(x.Pos, "%s: keepalived reads %s and ignores %q, and so does the VirtualIP", x.Keyword(), x.Args()[0], strings.Join(rest, " "))
	}
}

// maxPassword is how much of a PASS password VRRPv2 carries (RFC 3768 §5.3.6).
const maxPassword = 8

// seconds reads keepalived's <TIMER>: seconds with an optional fraction, to the millisecond, the
// finest a VirtualIP's durations take.
func (c *converter) seconds(x *conf.Directive, lo, hi float64) (time.Duration, bool) {
	if len(x.Args()) >= 1 {
		if f, err := strconv.ParseFloat(x.Args()[0], 64); err == nil && f >= lo && f <= hi {
			c.ignoredWords(x)
			d := time.Duration(math.Round(f*1e3)) * time.Millisecond
			if exact := time.Duration(math.Round(f*1e6)) * time.Microsecond; exact != d {
				c.note(x.Pos, "%s: %v is rounded to %v, the finest a VirtualIP takes", x.Keyword(), exact, d)
			}
			return d, true
		}
	}
	c.unmapped(x.Pos, "%s: must be seconds from %g to %g; keepalived refuses other values", x.Keyword(), lo, hi)
	return 0, false
}

// interval fits advert_int to what the version can carry: whole seconds in VRRPv2 (RFC 3768
// §5.3.7), centiseconds up to 40.95 s in VRRPv3 (RFC 9568 §5.2.7).
func (c *converter) interval(d time.Duration, v vrrpv1.VRRPVersion, pos conf.Pos) time.Duration {
	unit, hi := time.Second, 255*time.Second
	if v == vrrpv1.VRRPv3 {
		unit, hi = 10*time.Millisecond, 40950*time.Millisecond
	}
	r := min(max(d.Round(unit), unit), hi)
	if r != d {
		// keepalived rounds it the same way, and says so at start ("must be an integer.
		// rounding", "Setting to 40.95s"): the nodes advertise as before.
		c.note(pos, "advert_int %s cannot be sent in VRRPv%d: keepalived rounds it, and the VirtualIP advertises every %s", d, v, r)
	}
	return r
}

func (c *converter) garpSetting(x *conf.Directive, k string, g *garp) {
	switch k {
	case "garp_master_repeat":
		if n, ok := c.integer(x, 1, 100); ok {
			g.count = int32(n)
		}
	case "garp_interval":
		if d, ok := c.seconds(x, 0.01, 60); ok {
			g.interval = &d
		}
	case "garp_master_refresh":
		if d, ok := c.seconds(x, 0, 86400); ok {
			// keepalived reads whole seconds, the fraction cut: under one, it never refreshes.
			switch whole := d.Truncate(time.Second); {
			case whole == d:
			case whole == 0:
				c.note(x.Pos, "%s %s: keepalived reads whole seconds, 0: no refresh, and so does the VirtualIP", x.Keyword(), x.Args()[0])
			default:
				c.note(x.Pos, "%s %s: keepalived reads whole seconds, %v, and so does the VirtualIP", x.Keyword(), x.Args()[0], whole)
			}
			d = d.Truncate(time.Second)
			g.refresh = &d
		}
	}
}

// addresses converts virtual_ipaddress entries: `ADDRESS[/PREFIX] [dev IF] [label L] [scope S]
// ...`, an address without prefix being /32 or /128 as keepalived adds it, and ranges
// A.B.C.D-E expanded.
func (c *converter) addresses(entries []*conf.Directive, iface string) []string {
	var out []string
	seen := map[netip.Addr]bool{}
	family := 0
	for _, e := range entries {
		w := e.Words
		prefixes, err := parseAddress(w[0])
		if err != nil {
			c.unmapped(e.Pos, "virtual_ipaddress entry: %v", err)
			continue
		}
		for i := 1; i < len(w); i++ {
			opt, val := w[i], ""
			if i+1 < len(w) && !slices.Contains([]string{"no_track", "home", "nodad", "noprefixroute", "autojoin"}, opt) {
				val = w[i+1]
				i++
			}
			switch {
			case opt == "dev" && val == iface:
			case opt == "dev":
				c.unmapped(e.Pos, "virtual_ipaddress entry: dev %s: every address of a VirtualIP goes on its one interface", val)
			case opt == "scope" && val == "global":
			case opt == "label":
				c.unmapped(e.Pos, "virtual_ipaddress entry: label %s: the agent adds addresses without a label", val)
			case val == "":
				c.unmapped(e.Pos, "virtual_ipaddress entry: %s is not converted", opt)
			default:
				c.unmapped(e.Pos, "virtual_ipaddress entry: %s %s is not converted", opt, val)
			}
		}
		for _, p := range prefixes {
			f := 4
			if p.Addr().Is6() {
				f = 6
			}
			switch {
			case family != 0 && f != family:
				c.unmapped(e.Pos, "virtual_ipaddress entry: IPv%d in an IPv%d router; keepalived ignores it, and so does the VirtualIP", f, family)
				continue
			case seen[p.Addr()]:
				c.note(e.Pos, "virtual_ipaddress entry: the address is listed already; the VirtualIP has it once")
				continue
			}
			family = f
			seen[p.Addr()] = true
			out = append(out, p.String())
		}
	}
	return out
}

var rangePattern = regexp.MustCompile(`^(.*[.:])([0-9a-fA-F]+)-([0-9a-fA-F]+)(/[0-9]+)?$`)

func parseAddress(s string) ([]netip.Prefix, error) {
	if m := rangePattern.FindStringSubmatch(s); m != nil {
		first, err := parseAddress(m[1] + m[2] + m[4])
		if err != nil {
			return nil, err
		}
		base, bits := 10, 8
		if first[0].Addr().Is6() {
			base, bits = 16, 16
		}
		lo, err1 := strconv.ParseUint(m[2], base, bits)
		hi, err2 := strconv.ParseUint(m[3], base, bits)
		if err1 != nil || err2 != nil || hi < lo {
			return nil, fmt.Errorf("bad address range %q", s)
		}
		var out []netip.Prefix
		for n := lo; n <= hi; n++ {
			p, err := parseAddress(m[1] + strconv.FormatUint(n, base) + m[4])
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
		}
		return out, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("not an address: %w", err)
		}
		return []netip.Prefix{p}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("not an address: %w", err)
	}
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// hook converts notify* into a hook: keepalived's script, split into words as keepalived splits
// it, becomes the command, with the program's base name in the agent's hook directory.
func (c *converter) hook(x *conf.Directive, s *vrrpv1.VirtualIPSpec) {
	k, args := x.Keyword(), x.Args()
	if len(args) == 0 {
		c.unmapped(x.Pos, "%s without a script", k)
		return
	}
	if len(args) > 1 {
		c.unmapped(x.Pos, "%s: runs as user %s in keepalived; hooks run as the agent", k, strings.Join(args[1:], ":"))
	}
	argv, err := conf.SplitScript(args[0])
	if err != nil || len(argv) == 0 {
		c.unmapped(x.Pos, "%s: the script does not split into a program and arguments", k)
		return
	}
	program := argv[0]
	if !strings.Contains(program, "/") {
		c.unmapped(x.Pos, "%s: %s is found on PATH; hooks run only programs in the agent's hook directory: put a script there that runs it", k, program)
		return
	}
	base := path.Base(program)
	if msgs := validation.IsConfigMapKey(base); len(msgs) > 0 {
		c.unmapped(x.Pos, "%s: %s cannot be a hook name, a ConfigMap key (%s): put a script with another name into the hook directory that runs it", k, base, strings.Join(msgs, "; "))
		return
	}
	if !c.addProgram(x.Pos, k, "hook", base, hookProgram{from: program, kind: scriptFile}) {
		return
	}
	if s.Hooks == nil {
		s.Hooks = &vrrpv1.Hooks{}
	}
	h := &vrrpv1.Hook{Command: append([]string{base}, argv[1:]...)}
	switch k {
	case "notify":
		s.Hooks.Notify = h
	case "notify_master":
		s.Hooks.Master = h
	case "notify_backup":
		s.Hooks.Backup = h
	case "notify_fault":
		s.Hooks.Fault = h
	case "notify_stop":
		s.Hooks.Stop = h
	}
}

// hookProgram is what a program of the hook directory stands for.
type hookProgram struct {
	from string // what keepalived ran
	kind programKind
}

// programKind says what keepalived ran.
type programKind int

const (
	scriptFile  programKind = iota // a script file, to copy into the hook directory
	pathProgram                    // a program keepalived found on its PATH
	shellLine                      // a command line keepalived ran with /bin/sh -c
)

// addProgram makes key a program of the hook directory (and of the ConfigMap stub) that stands for
// what keepalived ran, and says where to copy a script; the caller reports a command line. false:
// another program has the name.
func (c *converter) addProgram(pos conf.Pos, k, runner, key string, p hookProgram) bool {
	from := p.from
	if prev, ok := c.hooks[key]; ok && prev != p {
		c.unmapped(pos, "%s: %s and %s share the hook name %s; give one a name of its own in the hook directory", k, prev.from, from, key)
		return false
	}
	if _, ok := c.hooks[key]; ok {
		return true
	}
	c.hooks[key] = p
	c.hookKeys = append(c.hookKeys, key)
	if p.kind != scriptFile {
		return true
	}
	where := "the agent's hook directory (--hook-dir)"
	if c.o.HooksConfigMap != "" {
		where = fmt.Sprintf("ConfigMap %s/%s (key %s), a placeholder until then, or the standalone agent's --hook-dir", c.o.Namespace, c.o.HooksConfigMap, key)
	}
	until := ""
	if runner == "check" {
		until = "; the check fails until then"
	}
	c.note(pos, "%s: the %s runs %s from the hook directory: copy %s into %s%s", k, runner, key, from, where, until)
	return true
}

// merge folds one instance's per-node forms into a VirtualIP.
func (c *converter) merge(ins []*nodeInstance) (vrrpv1.VirtualIP, string, bool) {
	first := ins[0]
	if len(ins) < len(c.o.Nodes) {
		var on []string
		for _, in := range ins {
			on = append(on, in.node)
		}
		c.unmapped(first.pos, "vrrp_instance %s is configured on %s only, but a VirtualIP runs on every node with an agent: add a nodeSelector", first.name, strings.Join(on, ", "))
	}
	ok := true
	for _, in := range ins[1:] {
		if diff := differences(agreed(first.spec), agreed(in.spec)); len(diff) > 0 {
			c.fail(in.pos, "vrrp_instance %s differs from %s's (%s) in %s: the nodes must agree", in.name, first.node, first.pos, strings.Join(diff, ", "))
			ok = false
		}
		if in.password != first.password {
			c.fail(in.pos, "vrrp_instance %s has another auth_pass than %s's (%s): the nodes must agree", in.name, first.node, first.pos)
			ok = false
		}
	}
	if !ok {
		return vrrpv1.VirtualIP{}, "", false
	}
	name, err := c.virtualIPName(first.name)
	if err != nil {
		c.fail(first.pos, "%v", err)
		return vrrpv1.VirtualIP{}, "", false
	}
	v := vrrpv1.VirtualIP{
		TypeMeta:   metav1.TypeMeta{APIVersion: vrrpv1.GroupVersion.String(), Kind: "VirtualIP"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       *first.spec.DeepCopy(),
	}
	c.tracking(ins, &v.Spec)
	c.preemption(ins, &v.Spec)
	v.Spec.Priority = commonPriority(ins)
	// The manifests stay those of config/samples (no nodeSelector, no garp): the reader is told
	// where the VirtualIP's defaults are not keepalived's instead.
	unlike := fmt.Sprintf("vrrp_instance %s: %s the VirtualIP runs on every node with an agent: a node not named here (%s) joins at priority %d; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends %s (spec.garp), keepalived 5 at once and 5 more after 5 s",
		first.name, unlikeKeepalived, nodeList(ins), v.Spec.Priority, garpDefault(v.Spec.GARP))
	if v.Spec.Hooks != nil {
		unlike += ". The agent stops a hook that runs longer than 30 s; keepalived never stops notify scripts"
	}
	c.note(first.pos, "%s", unlike)
	for _, in := range ins {
		if in.priority != v.Spec.Priority {
			v.Spec.NodePriorities = append(v.Spec.NodePriorities, vrrpv1.NodePriority{Node: in.node, Priority: in.priority})
		}
	}
	ifaces := map[string]bool{}
	var per []string
	for _, in := range ins {
		ifaces[in.iface] = true
		per = append(per, in.iface+" on "+in.node)
	}
	if len(ifaces) == 1 {
		v.Spec.Interface = first.iface
	} else {
		c.note(first.pos, "vrrp_instance %s: the nodes name different interfaces (%s): spec.interface is left empty, so each node uses the interface that holds the first address's subnet", first.name, strings.Join(per, ", "))
	}
	if name != first.name && v.Spec.Hooks != nil && v.Spec.Hooks.Notify != nil {
		hint := ""
		if _, chosen := c.o.Names[first.name]; !chosen {
			hint = fmt.Sprintf(" (--name %s=NAME chooses the name)", first.name)
		}
		c.note(first.pos, "vrrp_instance %s is VirtualIP %s: the notify hook gets INSTANCE %s <STATE> <priority> where keepalived passed %s%s", first.name, name, name, first.name, hint)
	}
	return v, first.password, true
}

// unlikeKeepalived starts the note on the defaults that differ from keepalived's.
const unlikeKeepalived = "unlike keepalived's defaults:"

func nodeList(ins []*nodeInstance) string {
	var on []string
	for _, in := range ins {
		on = append(on, in.node)
	}
	return strings.Join(on, ", ")
}

// garpDefault says what announcements the VirtualIP's garp makes, with the CRD's defaults.
func garpDefault(g *vrrpv1.GARP) string {
	count, interval := int32(3), 1100*time.Millisecond
	if g != nil && g.Count != 0 {
		count = g.Count
	}
	if g != nil && g.Interval != nil {
		interval = g.Interval.Duration
	}
	return fmt.Sprintf("%d announcements %s apart", count, interval)
}

// agreed is what the nodes must agree on: the addresses as a set (the VirtualIP takes the
// first node's order).
func agreed(s vrrpv1.VirtualIPSpec) vrrpv1.VirtualIPSpec {
	s = *s.DeepCopy()
	slices.Sort(s.Addresses)
	return s
}

// preemption sets preempt and preemptDelay. keepalived lets each node have its own; a VirtualIP
// has one for all. The node of the highest priority decides (the first of a tie, in the order of
// the files): a Backup's own setting says whether it preempts a Master of lower priority (RFC 9568
// §6.4.3): that node's matters most, whatever the order of the files. Nodes that differ are
// reported: as a note when they all have the lowest priority and no check weighs a priority
// (nobody stands below them to preempt, and a Backup never preempts an equal priority, RFC 9568
// §6.4.2: their setting changes nothing), else as not converted. A node in state MASTER has none (see
// instance: keepalived clears them).
func (c *converter) preemption(ins []*nodeInstance, s *vrrpv1.VirtualIPSpec) {
	describe := func(in *nodeInstance) string {
		d := "preempt"
		if in.preempt != nil && !*in.preempt {
			d = "nopreempt"
		}
		if in.preemptDelay != nil {
			d += " preempt_delay " + in.preemptDelay.Duration.String()
		}
		return d
	}
	chosen := ins[0]
	for _, in := range ins {
		if in.priority > chosen.priority {
			chosen = in
		}
	}
	s.Preempt, s.PreemptDelay = chosen.preempt, chosen.preemptDelay
	// A node's own setting says whether it preempts a Master of lower priority: it matters for
	// every node with one below it, or when checks move the priorities.
	lowest := chosen.priority
	for _, in := range ins {
		lowest = min(lowest, in.priority)
	}
	weighted := slices.ContainsFunc(s.Track, func(t vrrpv1.Check) bool { return t.Weight != nil && *t.Weight != 0 })
	var per []string
	differ, matters := false, weighted
	for _, in := range ins {
		per = append(per, describe(in)+" on "+in.node)
		if describe(in) != describe(chosen) {
			differ, matters = true, matters || in.priority > lowest
		}
	}
	switch {
	case differ && matters:
		c.unmapped(ins[0].pos, "vrrp_instance %s: the nodes preempt differently (%s): a VirtualIP has one setting for all nodes; it takes %s's, the highest priority's", ins[0].name, strings.Join(per, ", "), chosen.node)
	case differ:
		c.note(ins[0].pos, "vrrp_instance %s: the nodes preempt differently (%s): it takes %s's, the highest priority's: the others have the lowest, and no node below them to preempt", ins[0].name, strings.Join(per, ", "), chosen.node)
	}
}

// commonPriority is the priority most nodes have, the lowest of a tie, so that nodes not named
// in nodePriorities (a node added later) do not outrank the ones the configuration ranked.
func commonPriority(ins []*nodeInstance) int32 {
	count := map[int32]int{}
	for _, in := range ins {
		count[in.priority]++
	}
	best := ins[0].priority
	for p, n := range count {
		if n > count[best] || n == count[best] && p < best {
			best = p
		}
	}
	return best
}

// differences names the spec fields that differ.
func differences(a, b vrrpv1.VirtualIPSpec) []string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var out []string
	for k := range ma {
		if x, y := fmt.Sprint(ma[k]), fmt.Sprint(mb[k]); x != y {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

var notNameChars = regexp.MustCompile(`[^a-z0-9.-]+`)

// virtualIPName is --name's choice, or the instance name made a DNS subdomain: lower case, other
// characters as '-'.
func (c *converter) virtualIPName(instance string) (string, error) {
	name, chosen := c.o.Names[instance]
	if !chosen {
		name = strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(instance), "-"), "-.")
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", fmt.Errorf("vrrp_instance %s cannot be VirtualIP %q (%s): name it with --name %s=NAME", instance, name, strings.Join(msgs, "; "), instance)
	}
	return name, nil
}

// secret holds the PASS passwords: under "password" when all routers share one, else under
// each VirtualIP's name.
func (c *converter) secret(vips []vrrpv1.VirtualIP, passwords map[string]string) *corev1.Secret {
	if len(passwords) == 0 {
		return nil
	}
	distinct := map[string]bool{}
	for _, p := range passwords {
		distinct[p] = true
	}
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: c.o.SecretName, Namespace: c.o.Namespace},
		StringData: map[string]string{},
	}
	for i := range vips {
		v := &vips[i]
		p, ok := passwords[v.Name]
		if !ok || v.Spec.Authentication == nil {
			continue
		}
		key := "password"
		if len(distinct) > 1 {
			key = v.Name
		}
		v.Spec.Authentication.SecretRef.Key = key
		if !utf8.ValidString(p) {
			// Cut at 8 bytes inside a character: stringData would carry U+FFFD instead of the
			// bytes keepalived sends. data carries them as they are.
			if s.Data == nil {
				s.Data = map[string][]byte{}
			}
			s.Data[key] = []byte(p)
			continue
		}
		s.StringData[key] = p
	}
	return s
}

// configMap is the hook ConfigMap's stub: a placeholder per program that fails, saying which
// keepalived script belongs there, until the real one replaces it.
func (c *converter) configMap() *corev1.ConfigMap {
	if c.o.HooksConfigMap == "" || len(c.hookKeys) == 0 {
		return nil
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: c.o.HooksConfigMap, Namespace: c.o.Namespace},
		Data:       map[string]string{},
	}
	for _, k := range c.hookKeys {
		from := c.hooks[k].from
		var what string
		switch c.hooks[k].kind {
		case scriptFile:
			cm.Data[k] = fmt.Sprintf("#!/bin/sh\n# Placeholder: replace with the text of %s.\necho '%s: placeholder for %s, not yet copied into ConfigMap %s' >&2\nexit 1\n",
				from, k, from, c.o.HooksConfigMap)
			continue
		case pathProgram:
			what = fmt.Sprintf("keepalived ran %s from its PATH", from)
		case shellLine:
			// It may hold quotes and newlines: it goes into a comment only.
			what = "keepalived ran, with /bin/sh -c: " + strings.ReplaceAll(from, "\n", " ")
		}
		cm.Data[k] = fmt.Sprintf("#!/bin/sh\n# Placeholder: %s; replace with a program that does its work.\necho '%s: placeholder, not yet written into ConfigMap %s' >&2\nexit 1\n",
			what, k, c.o.HooksConfigMap)
	}
	return cm
}

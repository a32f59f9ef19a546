package keepalived

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/convert/keepalived/conf"
)

// Limits of spec.track (api/v1alpha1) that keepalived's tracking can exceed.
const (
	maxTrackWeight   = 253
	maxTrackRiseFall = 100
	maxTrackSeconds  = 3600 // interval and timeout at most 1h
	maxTrackChecks   = 16
)

// definitions are one node's vrrp_script and track_file blocks, which instances track by name.
// keepalived reads them wherever they stand in the file.
type definitions struct {
	scripts map[string]*scriptDef
	files   map[string]*fileDef
}

// scriptDef is a vrrp_script as a check: its name and weight come from the track_script entry.
type scriptDef struct {
	pos     conf.Pos
	name    string
	check   vrrpv1.Check // the kind, interval, timeout, rise and fall
	weight  int32        // keepalived's default 0: failing means FAULT
	reverse conf.Pos     // where `weight W reverse` was written; zero: not reversed
	program *program     // the hook-directory program an exec check runs
	ok      bool         // false: keepalived drops the script (no script line)
	used    bool
}

// fileDef is a track_file (vrrp_track_file) block.
type fileDef struct {
	pos     conf.Pos
	name    string
	path    string
	weight  int64 // keepalived's default 1
	reverse bool
	ok      bool
	used    bool
}

// program is a hook-directory program an exec check runs in place of a keepalived script.
type program struct {
	pos conf.Pos // the script line
	key string   // its name in the hook directory (and the ConfigMap key)
	hookProgram
}

// collectDefinitions reads the top-level vrrp_script and track_file blocks.
func (c *converter) collectDefinitions(cfg *conf.Config) definitions {
	defs := definitions{scripts: map[string]*scriptDef{}, files: map[string]*fileDef{}}
	for _, d := range cfg.Directives {
		switch k := d.Keyword(); k {
		case "vrrp_script", "track_file", "vrrp_track_file":
			if len(d.Args()) != 1 {
				c.unmapped(d.Pos, "%s needs one name; keepalived skips it", k)
				continue
			}
			name := d.Args()[0]
			if k == "vrrp_script" {
				if prev, dup := defs.scripts[name]; dup {
					c.unmapped(d.Pos, "vrrp_script %s is defined twice (also at %s); keepalived uses the first", name, prev.pos)
					continue
				}
				defs.scripts[name] = c.scriptDefinition(d)
				continue
			}
			if prev, dup := defs.files[name]; dup {
				c.unmapped(d.Pos, "%s %s is defined twice (also at %s); keepalived uses the first", k, name, prev.pos)
				continue
			}
			defs.files[name] = c.fileDefinition(d)
		}
	}
	return defs
}

// reportUnused notes the definitions no instance tracks: keepalived does not run them either.
func (c *converter) reportUnused(defs definitions) {
	for _, s := range defs.scripts {
		if s.ok && !s.used {
			c.note(s.pos, "vrrp_script %s: no vrrp_instance tracks it, so keepalived does not run it; nothing to convert", s.name)
		}
	}
	for _, f := range defs.files {
		if f.ok && !f.used {
			c.note(f.pos, "track_file %s: no vrrp_instance tracks it; nothing to convert", f.name)
		}
	}
}

func (c *converter) scriptDefinition(d *conf.Directive) *scriptDef {
	s := &scriptDef{pos: d.Pos, name: d.Args()[0]}
	var interval, timeout int
	var rise, fall *int32
	var timeoutPos conf.Pos
	var user, initFail *conf.Directive
	for _, x := range d.Block {
		switch k := x.Keyword(); k {
		case "script":
			if len(x.Args()) == 0 {
				c.unmapped(x.Pos, "script without a command")
				continue
			}
			s.check, s.program, s.ok = c.scriptCheck(x, s.name)
		case "interval":
			// keepalived reads whole seconds, 0 as 1.
			if n, ok := c.trackSeconds(x); ok {
				interval = n
			}
		case "timeout":
			if n, ok := c.trackSeconds(x); ok {
				timeout, timeoutPos = n, x.Pos
			}
		case "weight":
			w, reverse, ok := c.trackWeight(x, x.Args(), maxTrackWeight, false, false)
			if ok {
				s.weight, s.reverse = w, conf.Pos{}
				if reverse {
					s.reverse = x.Pos
				}
			}
		case "rise", "fall":
			if n, ok := c.riseFall(x); ok {
				if k == "rise" {
					rise = &n
				} else {
					fall = &n
				}
			}
		case "user":
			user = x
		case "init_fail":
			initFail = x
		default:
			c.unmapped(x.Pos, "%s: unknown keyword", k)
		}
	}
	if !s.ok {
		c.unmapped(d.Pos, "vrrp_script %s has no script that converts; keepalived drops a vrrp_script without one, and its tracking is left out", s.name)
		return s
	}
	s.check.Rise, s.check.Fall = rise, fall
	// The run's timeout is the interval unless keepalived's timeout says otherwise (0 means the
	// interval, keepalived's vrrp_script_thread).
	if interval != 0 {
		s.check.Interval = &metav1.Duration{Duration: time.Duration(interval) * time.Second}
	}
	if timeout != 0 {
		every := max(interval, 1)
		if timeout > every {
			c.unmapped(timeoutPos, "timeout %d is longer than interval %d: keepalived lets a run go on and skips the runs that fall due meanwhile, a check's timeout is at most its interval: it becomes %ds, so a run longer than that fails (or raise interval to %d)", timeout, every, every, timeout)
			timeout = every
		}
		s.check.Timeout = &metav1.Duration{Duration: time.Duration(timeout) * time.Second}
	}
	if user != nil {
		if s.check.Exec != nil {
			c.unmapped(user.Pos, "user: the script runs as %s in keepalived; checks run as the agent", strings.Join(user.Args(), ":"))
		} else {
			c.note(user.Pos, "user: the %s check runs no program, so no user", checkKind(s.check))
		}
	}
	if initFail != nil {
		c.unmapped(initFail.Pos, "init_fail: a check counts as passing until its first result; keepalived starts this script failing")
	}
	return s
}

func (c *converter) fileDefinition(d *conf.Directive) *fileDef {
	f := &fileDef{pos: d.Pos, name: d.Args()[0], weight: 1}
	for _, x := range d.Block {
		switch k := x.Keyword(); k {
		case "file":
			if len(x.Args()) != 1 || !path.IsAbs(x.Args()[0]) {
				c.unmapped(x.Pos, "file: needs one absolute path; the check reads the file at that path in the agent's mount namespace")
				continue
			}
			f.path, f.ok = path.Clean(x.Args()[0]), true
		case "weight":
			args := x.Args()
			if len(args) == 0 {
				c.unmapped(x.Pos, "weight without a value; keepalived ignores it")
				continue
			}
			n, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || len(args) > 2 || len(args) == 2 && args[1] != "reverse" {
				c.unmapped(x.Pos, "weight: must be a whole number, optionally followed by reverse; keepalived ignores it")
				continue
			}
			f.weight, f.reverse = n, len(args) == 2
		case "init_file":
			c.unmapped(x.Pos, "init_file: the agent does not create or write the file: create it (e.g. echo 0 > %s) where the agent reads it", orPath(f.path))
		default:
			c.unmapped(x.Pos, "%s: unknown keyword", k)
		}
	}
	if !f.ok {
		c.unmapped(d.Pos, "%s %s has no file; keepalived drops it, and its tracking is left out", d.Keyword(), f.name)
	}
	return f
}

func orPath(p string) string {
	if p == "" {
		return "FILE"
	}
	return p
}

// trackSeconds reads keepalived's whole seconds of interval and timeout: 0 is 1, as keepalived
// sets it; more than the CRD's hour is an hour.
func (c *converter) trackSeconds(x *conf.Directive) (int, bool) {
	if len(x.Args()) == 1 {
		if n, err := strconv.ParseUint(x.Args()[0], 10, 32); err == nil {
			switch {
			case n == 0:
				c.note(x.Pos, "%s 0: keepalived runs it as 1, and so does the check", x.Keyword())
				return 1, true
			case n > maxTrackSeconds:
				c.unmapped(x.Pos, "%s %d: a check's %s is at most 1h; it becomes 1h", x.Keyword(), n, x.Keyword())
				return maxTrackSeconds, true
			}
			return int(n), true
		}
	}
	c.unmapped(x.Pos, "%s: must be whole seconds; keepalived ignores other values (and so does the check)", x.Keyword())
	return 0, false
}

func (c *converter) riseFall(x *conf.Directive) (int32, bool) {
	if len(x.Args()) == 1 {
		if n, err := strconv.ParseUint(x.Args()[0], 10, 31); err == nil && n >= 1 {
			if n > maxTrackRiseFall {
				c.unmapped(x.Pos, "%s %d: a check's %s is at most %d; it becomes %d", x.Keyword(), n, x.Keyword(), maxTrackRiseFall, maxTrackRiseFall)
				n = maxTrackRiseFall
			}
			return int32(n), true
		}
	}
	c.unmapped(x.Pos, "%s: must be a whole number from 1; keepalived uses 1 instead, and so does the check", x.Keyword())
	return 0, false
}

// trackWeight reads `W [reverse|noreverse]` (args) with W in -limit..limit. With clamp, ±254 is
// ±253, as keepalived makes it in track_script and track_interface entries. noreverse is
// keepalived's in track_script and track_file entries only.
func (c *converter) trackWeight(x *conf.Directive, args []string, limit int, clamp, noreverse bool) (int32, bool, bool) {
	if len(args) == 0 || len(args) > 2 {
		c.unmapped(x.Pos, "weight: needs a number, optionally followed by reverse; keepalived ignores it")
		return 0, false, false
	}
	n, err := strconv.Atoi(args[0])
	if err == nil && clamp && (n == -limit-1 || n == limit+1) {
		c.note(x.Pos, "weight %d: keepalived makes it %d, and so does the check", n, max(min(n, limit), -limit))
		n = max(min(n, limit), -limit)
	}
	if err != nil || n < -limit || n > limit {
		c.unmapped(x.Pos, "weight %s: must be from %d to %d; keepalived ignores it", args[0], -limit, limit)
		return 0, false, false
	}
	reverse := false
	if len(args) == 2 {
		switch {
		case args[1] == "reverse":
			reverse = true
		case args[1] == "noreverse" && noreverse:
		default:
			c.unmapped(x.Pos, "weight: unknown option %s; keepalived ignores it", args[1])
		}
	}
	return int32(n), reverse, true
}

var (
	// devTCP is bash's `</dev/tcp/HOST/PORT`, which connects and exits.
	devTCP = regexp.MustCompile(`^<\s*/dev/tcp/([^/\s]+)/([0-9]{1,5})$`)
	// shellChars mark a command line only a shell can run: keepalived runs a script whose program
	// it cannot find with /bin/sh -c.
	shellChars = regexp.MustCompile("[<>|&;$`()*?]")
)

// scriptCheck converts a vrrp_script's script into what a check runs. keepalived splits the script
// into words and runs the program without a shell when it finds it (by path, or on PATH), and with
// /bin/sh -c when it does not. Probes that are certainly a TCP connection or an HTTP GET become
// tcp and http checks; other scripts become exec checks of a program in the hook directory: the
// script's base name, the program found on PATH, or for a shell command line the check's name.
func (c *converter) scriptCheck(x *conf.Directive, name string) (vrrpv1.Check, *program, bool) {
	script := x.Args()[0]
	if len(x.Args()) > 1 {
		script = strings.Join(x.Args(), " ")
	}
	argv, err := conf.SplitScript(script)
	if err != nil || len(argv) == 0 {
		c.unmapped(x.Pos, "script: does not split into a program and arguments")
		return vrrpv1.Check{}, nil, false
	}
	if ck, ok := c.probe(x, script, argv); ok {
		return ck, nil, true
	}
	prog := argv[0]
	switch {
	case shellChars.MatchString(prog):
		key := checkName(name)
		p := &program{pos: x.Pos, key: key, hookProgram: hookProgram{from: script, kind: shellLine}}
		c.unmapped(x.Pos, "script: %q is a shell command line (keepalived runs it with /bin/sh -c): the exec check runs program %s from the hook directory; write it there (it fails until then)", script, key)
		return execCheck([]string{key}), p, true
	case !strings.Contains(prog, "/"):
		p := &program{pos: x.Pos, key: prog, hookProgram: hookProgram{from: prog, kind: pathProgram}}
		if msgs := validation.IsConfigMapKey(prog); len(msgs) > 0 {
			p.key = checkName(name)
		}
		c.unmapped(x.Pos, "script: keepalived finds %s on PATH; the agent runs only programs in its hook directory: the exec check runs %s from there, so put a program there that does what %q did (it fails until then)", prog, p.key, script)
		if p.key != prog {
			return execCheck([]string{p.key}), p, true
		}
		return execCheck(argv), p, true
	}
	base := path.Base(prog)
	p := &program{pos: x.Pos, key: base, hookProgram: hookProgram{from: prog, kind: scriptFile}}
	if msgs := validation.IsConfigMapKey(base); len(msgs) > 0 {
		p.key = checkName(name)
		c.unmapped(x.Pos, "script: %s cannot be a program name in the hook directory, a ConfigMap key (%s): the exec check runs %s from there instead, so put %s there under that name", base, strings.Join(msgs, "; "), p.key, prog)
	}
	return execCheck(append([]string{p.key}, argv[1:]...)), p, true
}

func execCheck(argv []string) vrrpv1.Check {
	return vrrpv1.Check{Exec: &vrrpv1.ExecCheck{Command: argv}}
}

// probe recognises the scripts that only probe a port or a URL on the node: bash's
// `</dev/tcp/IP/PORT` (alone or in bash -c), `nc -z IP PORT`, and `curl -f URL` with no option
// but -s, -S and -o /dev/null (-k for https: the http check does not verify certificates). curl -f
// fails on a status of 400 or more and does not follow redirects, as the http check's default
// 200-399.
func (c *converter) probe(x *conf.Directive, script string, argv []string) (vrrpv1.Check, bool) {
	prog := path.Base(argv[0])
	tcp := func(host, port, how string) (vrrpv1.Check, bool) {
		a, err := netip.ParseAddr(host)
		p, perr := strconv.ParseUint(port, 10, 16)
		if err != nil || a.Zone() != "" || perr != nil || p == 0 {
			return vrrpv1.Check{}, false
		}
		addr := netip.AddrPortFrom(a, uint16(p)).String()
		c.note(x.Pos, "script: %q connects to %s and exits: a tcp check of %s does the same%s", script, addr, addr, how)
		return vrrpv1.Check{TCP: &vrrpv1.TCPCheck{Address: addr}}, true
	}
	switch {
	case len(argv) == 1 && devTCP.MatchString(argv[0]):
		// keepalived cannot find a program by that name and runs the line with /bin/sh -c.
		m := devTCP.FindStringSubmatch(argv[0])
		return tcp(m[1], m[2], " (keepalived runs it with /bin/sh, which connects only when it is bash: with dash the script always failed)")
	case len(argv) == 3 && (prog == "bash") && argv[1] == "-c" && devTCP.MatchString(strings.TrimSpace(argv[2])):
		m := devTCP.FindStringSubmatch(strings.TrimSpace(argv[2]))
		return tcp(m[1], m[2], "")
	case len(argv) == 4 && (prog == "nc" || prog == "ncat" || prog == "netcat") && argv[1] == "-z":
		return tcp(argv[2], argv[3], "")
	case prog == "curl":
		return c.curl(x, script, argv[1:])
	}
	return vrrpv1.Check{}, false
}

func (c *converter) curl(x *conf.Directive, script string, args []string) (vrrpv1.Check, bool) {
	var rawURL string
	fail, insecure := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--fail":
			fail = true
		case a == "--silent", a == "--show-error":
		case a == "--insecure":
			insecure = true
		case (a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "/dev/null":
			i++
		case len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], "fsSk") == "":
			fail = fail || strings.Contains(a, "f")
			insecure = insecure || strings.Contains(a, "k")
		case !strings.HasPrefix(a, "-") && rawURL == "":
			rawURL = a
		default:
			return vrrpv1.Check{}, false
		}
	}
	u, err := url.Parse(rawURL)
	if !fail || err != nil || u.User != nil || u.Fragment != "" {
		return vrrpv1.Check{}, false
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err != nil && host != "localhost" {
		return vrrpv1.Check{}, false
	}
	if u.Scheme != "http" && (u.Scheme != "https" || !insecure) {
		return vrrpv1.Check{}, false
	}
	c.note(x.Pos, "script: %q gets %s and fails on a status of 400 or more: an http check of it does the same (it passes on 200-399)", script, rawURL)
	return vrrpv1.Check{HTTP: &vrrpv1.HTTPCheck{URL: rawURL}}, true
}

var notLabelChars = regexp.MustCompile(`[^a-z0-9-]+`)

// checkName is a keepalived name (chk_haproxy, eth0.100) as a check name, a DNS label
// (chk-haproxy, eth0-100).
func checkName(s string) string {
	n := strings.Trim(notLabelChars.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(n) > validation.DNS1123LabelMaxLength {
		n = strings.TrimRight(n[:validation.DNS1123LabelMaxLength], "-")
	}
	if n == "" {
		n = "check"
	}
	return n
}

func checkKind(ck vrrpv1.Check) string {
	switch {
	case ck.Exec != nil:
		return "exec"
	case ck.HTTP != nil:
		return "http"
	case ck.TCP != nil:
		return "tcp"
	case ck.Interface != nil:
		return "interface"
	case ck.File != nil:
		return "file"
	}
	return "pods"
}

// tracked is what one instance tracks on one node.
type tracked struct {
	checks   []vrrpv1.Check
	programs []*program
}

// add appends a check, named name or, when an earlier check has that name, name-2, name-3...
func (t *tracked) add(ck vrrpv1.Check, name string) string {
	base := checkName(name)
	ck.Name = base
	for i := 2; slices.ContainsFunc(t.checks, func(o vrrpv1.Check) bool { return o.Name == ck.Name }); i++ {
		suffix := fmt.Sprintf("-%d", i)
		ck.Name = strings.TrimRight(base[:min(len(base), validation.DNS1123LabelMaxLength-len(suffix))], "-") + suffix
	}
	t.checks = append(t.checks, ck)
	return ck.Name
}

// noReverse says why a reversed script or interface weight is not converted.
const noReverse = "reverse turns keepalived's adjustment the other way, which a check's weight cannot: it applies only while failing (negative) or passing (positive); the check is left out"

// badOption says what is wrong with an entry's options (args, after the name).
func badOption(args []string) string {
	if args[0] == "weight" {
		return "weight without a value"
	}
	return "unknown option " + args[0]
}

func weightPtr(w int32) *int32 {
	if w == 0 {
		return nil
	}
	return &w
}

// trackScripts converts an instance's track_script block: `NAME [weight W [reverse|noreverse]]`,
// the weight overriding the script's.
func (c *converter) trackScripts(x *conf.Directive, defs definitions, t *tracked) {
	seen := map[string]bool{}
	for _, e := range x.Block {
		name := e.Keyword()
		s, ok := defs.scripts[name]
		switch {
		case !ok:
			c.unmapped(e.Pos, "track_script %s: no vrrp_script %s; keepalived ignores it, and so does the VirtualIP", name, name)
			continue
		case seen[name]:
			c.note(e.Pos, "track_script %s: tracked already; keepalived ignores the duplicate, and so does the VirtualIP", name)
			continue
		}
		seen[name] = true
		s.used = true
		weight, reverse := s.weight, s.reverse
		if args := e.Args(); len(args) > 0 {
			if args[0] != "weight" || len(args) == 1 {
				c.unmapped(e.Pos, "track_script %s: %s; keepalived ignores the entry", name, badOption(args))
				continue
			}
			if w, rev, ok := c.trackWeight(e, args[1:], maxTrackWeight, true, true); ok {
				weight = w
				switch {
				case rev:
					reverse = e.Pos
				case len(args) == 3 && args[2] == "noreverse":
					reverse = conf.Pos{}
				}
			}
		}
		if !s.ok {
			continue
		}
		if reverse != (conf.Pos{}) {
			c.unmapped(reverse, "track_script %s: weight %d reverse: %s", name, weight, noReverse)
			continue
		}
		ck := *s.check.DeepCopy()
		ck.Weight = weightPtr(weight)
		t.add(ck, name)
		if s.program != nil {
			t.programs = append(t.programs, s.program)
		}
	}
}

// trackInterfaces converts `IFNAME [weight W [reverse]]` entries into interface checks.
func (c *converter) trackInterfaces(x *conf.Directive, t *tracked) {
	seen := map[string]bool{}
	for _, e := range x.Block {
		name := e.Keyword()
		var weight int32
		if args := e.Args(); len(args) > 0 {
			if args[0] != "weight" || len(args) == 1 {
				c.unmapped(e.Pos, "track_interface %s: %s; keepalived ignores the entry", name, badOption(args))
				continue
			}
			// A weight keepalived refuses is 0 there: FAULT while the interface is down.
			w, reverse, _ := c.trackWeight(e, args[1:], maxTrackWeight, true, false)
			if reverse {
				c.unmapped(e.Pos, "track_interface %s: weight %d reverse: %s", name, w, noReverse)
				continue
			}
			weight = w
		}
		switch {
		case seen[name]:
			c.note(e.Pos, "track_interface %s: tracked already; keepalived ignores the duplicate, and so does the VirtualIP", name)
			continue
		case len(name) > 15 || strings.ContainsAny(name, "/:"):
			c.unmapped(e.Pos, "track_interface %s: not an interface name (at most 15 characters, no '/' or ':'); left out", name)
			continue
		}
		seen[name] = true
		t.add(vrrpv1.Check{Weight: weightPtr(weight), Interface: &vrrpv1.InterfaceCheck{Name: name}}, name)
	}
}

// trackFiles converts `NAME [weight W [reverse|noreverse]]` entries into file checks. A file
// check's weight multiplies the number in the file, so keepalived's reverse is the weight negated.
func (c *converter) trackFiles(x *conf.Directive, defs definitions, t *tracked) {
	seen := map[string]bool{}
	for _, e := range x.Block {
		name := e.Keyword()
		f, ok := defs.files[name]
		switch {
		case !ok:
			c.unmapped(e.Pos, "track_file %s: no track_file %s block; keepalived ignores it, and so does the VirtualIP", name, name)
			continue
		case seen[name]:
			c.note(e.Pos, "track_file %s: tracked already; keepalived ignores the duplicate, and so does the VirtualIP", name)
			continue
		}
		seen[name] = true
		f.used = true
		weight, reverse, pos := f.weight, f.reverse, f.pos
		if args := e.Args(); len(args) > 0 {
			if args[0] != "weight" || len(args) == 1 {
				c.unmapped(e.Pos, "track_file %s: %s; keepalived ignores the entry", name, badOption(args))
				continue
			}
			// keepalived takes -254..254 here: 254 lets a file holding -1 reach FAULT.
			if w, rev, ok := c.trackWeight(e, args[1:], maxTrackWeight+1, false, true); ok {
				weight, pos = int64(w), e.Pos
				switch {
				case rev:
					reverse = true
				case len(args) == 3 && args[2] == "noreverse":
					reverse = false
				}
			}
		}
		if !f.ok {
			continue
		}
		if reverse {
			weight = -weight
		}
		if weight == 0 && reverse {
			c.unmapped(pos, "track_file %s: weight 0 reverse (FAULT while the file holds 0) has no counterpart; the check is left out", name)
			continue
		}
		if weight < -maxTrackWeight || weight > maxTrackWeight {
			clamped := max(min(weight, maxTrackWeight), -maxTrackWeight)
			c.unmapped(pos, "track_file %s: weight %d: a check's weight is from -253 to 253; it becomes %d (the file's number times the weight moves the priority; -254 or less is FAULT)", name, weight, clamped)
			weight = clamped
		}
		if reverse {
			c.note(pos, "track_file %s: reverse is the weight negated: %d", name, weight)
		}
		t.add(vrrpv1.Check{Weight: weightPtr(int32(weight)), File: &vrrpv1.FileCheck{Path: f.path}}, name)
	}
}

// tracking sets spec.track from the instance's checks. A VirtualIP has one list for all nodes: when
// the nodes track differently, the report says so and the first node's list is taken. The programs
// of its exec checks join the hook directory's.
func (c *converter) tracking(ins []*nodeInstance, s *vrrpv1.VirtualIPSpec) {
	first := ins[0]
	var differ []string
	for _, in := range ins[1:] {
		if !reflect.DeepEqual(first.track.checks, in.track.checks) {
			differ = append(differ, in.node)
		}
	}
	if len(differ) > 0 {
		c.unmapped(first.pos, "vrrp_instance %s: the nodes track differently (%s unlike %s: the scripts, interfaces or files, or their settings): a VirtualIP runs the same checks on every node; it takes %s's", first.name, strings.Join(differ, ", "), first.node, first.node)
	}
	checks := first.track.checks
	if len(checks) > maxTrackChecks {
		c.unmapped(first.pos, "vrrp_instance %s tracks %d scripts, interfaces and files: a VirtualIP has at most %d checks; the first %d are kept", first.name, len(checks), maxTrackChecks, maxTrackChecks)
		checks = checks[:maxTrackChecks]
	}
	s.Track = checks
	if slices.ContainsFunc(checks, func(ck vrrpv1.Check) bool { return ck.Weight != nil }) {
		for _, in := range ins {
			if in.owner {
				c.unmapped(in.pos, "vrrp_instance %s: keepalived's weights never move the address owner's priority 255 (on %s); the weighted checks move this node's 254", in.name, in.node)
			}
		}
	}
	for _, p := range first.track.programs {
		if !slices.ContainsFunc(checks, func(ck vrrpv1.Check) bool { return ck.Exec != nil && ck.Exec.Command[0] == p.key }) {
			continue
		}
		c.addProgram(p.pos, "script", "check", p.key, p.hookProgram)
	}
}

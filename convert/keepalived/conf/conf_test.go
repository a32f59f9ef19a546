package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// write puts files (name -> text) into a new directory and returns it.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// outline prints directives one a line as "file:line word|word", nested by indentation, with
// file names relative to dir.
func outline(dir string, ds []*Directive) []string {
	var out []string
	var walk func([]*Directive, string)
	walk = func(ds []*Directive, indent string) {
		for _, d := range ds {
			rel, _ := filepath.Rel(dir, d.File)
			s := fmt.Sprintf("%s%s:%d %s", indent, rel, d.Line, strings.Join(d.Words, "|"))
			if d.HasBlock {
				s += " {"
			}
			out = append(out, s)
			walk(d.Block, indent+"  ")
		}
	}
	walk(ds, "")
	return out
}

func TestParse(t *testing.T) {
	cases := map[string]struct {
		files    map[string]string // keepalived.conf is the one read
		configID string
		want     []string
		warnings []string
	}{
		"comments start with # or ! anywhere outside quotes": {
			files: map[string]string{"keepalived.conf": "! header\n# another\nrouter_id a # trailing\nauth_pass \"x#y!z\" ! gone\nsmtp_server 'q!r'#gone\n"},
			want:  []string{"keepalived.conf:3 router_id|a", "keepalived.conf:4 auth_pass|x#y!z", "keepalived.conf:5 smtp_server|q!r"},
		},
		"quotes keep white space and join with the letters around them, escapes resolve inside them": {
			files: map[string]string{"keepalived.conf": `notify "/bin/x 0 VI_1 STOP" user` + "\n" + `a abcd" efg h jkl "mnop` + "\n" + `b "tab\there" 'it''s' "\x41\101\"q"` + "\n"},
			want: []string{
				"keepalived.conf:1 notify|/bin/x 0 VI_1 STOP|user",
				"keepalived.conf:2 a|abcd efg h jkl mnop",
				"keepalived.conf:3 b|tab\there|its|AA\"q",
			},
		},
		"blocks nest, with the brace on the keyword's line, on a line of its own, or closing on the same line": {
			files: map[string]string{"keepalived.conf": "vrrp_instance VI_1 {\n  virtual_ipaddress\n  {\n    198.51.100.252/24\n  }\n  authentication { auth_type PASS }\n}\nvrrp_instance VI_2\n{\n}\n"},
			want: []string{
				"keepalived.conf:1 vrrp_instance|VI_1 {",
				"  keepalived.conf:2 virtual_ipaddress {",
				"    keepalived.conf:4 198.51.100.252/24",
				"  keepalived.conf:6 authentication {",
				"    keepalived.conf:6 auth_type|PASS",
				"keepalived.conf:8 vrrp_instance|VI_2 {",
			},
		},
		"include reads what a glob matches, in order, relative to the including file, braces expanded": {
			files: map[string]string{
				"keepalived.conf":      "include conf.d/*.conf\ninclude {extra,more}.conf\nend\n",
				"conf.d/b.conf":        "b\ninclude ../sub/c.conf\n",
				"conf.d/a.conf":        "a\n",
				"conf.d/skipped.other": "skipped\n",
				"sub/c.conf":           "c\n",
				"extra.conf":           "extra\n",
				"more.conf":            "more\n",
			},
			want: []string{"conf.d/a.conf:1 a", "conf.d/b.conf:1 b", "sub/c.conf:1 c", "extra.conf:1 extra", "more.conf:1 more", "keepalived.conf:3 end"},
		},
		"a block may open in one file and close in the file that included it": {
			files: map[string]string{"keepalived.conf": "vrrp_instance VI_1 {\ninclude body.conf\n}\n", "body.conf": "priority 150\n"},
			want:  []string{"keepalived.conf:1 vrrp_instance|VI_1 {", "  body.conf:1 priority|150"},
		},
		"an include that matches nothing is a warning of something missing, as keepalived goes on without it": {
			files:    map[string]string{"keepalived.conf": "include missing/*.conf\nrouter_id a\n"},
			want:     []string{"keepalived.conf:2 router_id|a"},
			warnings: []string{"keepalived.conf:1 include DIR/missing/*.conf matches no file: keepalived goes on without it, and what it holds is not converted"},
		},
		"an include line is recognised after parameter substitution, as keepalived 2.2.7 opens include ${D}/a.conf": {
			files: map[string]string{"keepalived.conf": "$D=${_PWD}/sub\ninclude ${D}/a.conf\n$INC=include sub/b.conf\n$INC\n", "sub/a.conf": "a\n", "sub/b.conf": "b\n"},
			want:  []string{"sub/a.conf:1 a", "sub/b.conf:1 b"},
		},
		"an include line is recognised after '@id', as keepalived -i a opens @a include a.conf and not @b include b.conf": {
			files:    map[string]string{"keepalived.conf": "@a include a.conf\n@b include b.conf\n@^a include c.conf\n", "a.conf": "a\n", "b.conf": "b\n", "c.conf": "c\n"},
			configID: "a",
			want:     []string{"a.conf:1 a"},
		},
		"@id keeps a line for that config-id only, @^id for all others": {
			files:    map[string]string{"keepalived.conf": "@high priority 170\n@low priority 85\n@^high state BACKUP\n@^low\tstate MASTER\n"},
			configID: "high",
			want:     []string{"keepalived.conf:1 priority|170", "keepalived.conf:4 state|MASTER"},
		},
		"parameters are replaced when used, recursively, with or without braces": {
			files: map[string]string{"keepalived.conf": "$ADDRESS_BASE=${ADDRESS_NET}\n$ADDRESS_NET=198.51.100\n${ADDRESS_BASE}.100/32\n$ADDRESS_NET=203.0.113\na ${ADDRESS_BASE}.1/32\n$PRIO=150\npriority $PRIO\n"},
			want:  []string{"keepalived.conf:3 198.51.100.100/32", "keepalived.conf:5 a|203.0.113.1/32", "keepalived.conf:7 priority|150"},
		},
		"an undefined parameter and a lone dollar stay as written; $NAME needs white space after it": {
			files: map[string]string{"keepalived.conf": "$X=1\nauth_pass $ SOME\na $UNDEF $Xy ${X}y\n"},
			want:  []string{"keepalived.conf:2 auth_pass|$|SOME", "keepalived.conf:3 a|$UNDEF|$Xy|1y"},
		},
		"braces split words anywhere outside quotes, as keepalived splits them": {
			files: map[string]string{"keepalived.conf": "a {\n  priority 150}\nb ${UNDEF}\nc \"{q}\"\n"},
			want: []string{
				"keepalived.conf:1 a {", "  keepalived.conf:2 priority|150",
				"keepalived.conf:3 b|$ {", "  keepalived.conf:3 UNDEF", "keepalived.conf:4 c|{q}",
			},
		},
		"a parameter may hold a conditional, and a conditional a definition": {
			files:    map[string]string{"keepalived.conf": "$IF_MAIN=@main\n$IF_MAIN priority 240\n@main $P=1\n@backup $P=2\np $P\n"},
			configID: "main",
			want:     []string{"keepalived.conf:2 priority|240", "keepalived.conf:5 p|1"},
		},
		"a multi-line definition expands into lines, each with its conditionals": {
			files:    map[string]string{"keepalived.conf": "$INSTANCE= \\\nvrrp_instance VI_${NUM} { \\\n  @high priority 130 \\\n  @low priority 120 \\\n}\n$NUM=0\n$INSTANCE\n$NUM=1\n$INSTANCE\n"},
			configID: "low",
			want: []string{
				"keepalived.conf:7 vrrp_instance|VI_0 {", "  keepalived.conf:7 priority|120",
				"keepalived.conf:9 vrrp_instance|VI_1 {", "  keepalived.conf:9 priority|120",
			},
		},
		"pre-defined parameters: the file's directory, the config-id and a hash that is no comment": {
			files:    map[string]string{"keepalived.conf": "include sub/x.conf\n", "sub/x.conf": "a ${_PWD} ${_INSTANCE} x${_HASH}y\n"},
			configID: "node-a",
			want:     []string{"sub/x.conf:1 a|DIR/sub|node-a|x#y"},
		},
		"Windows line ends are read as line ends": {
			files: map[string]string{"keepalived.conf": "a 1\r\nb 2\r\n"},
			want:  []string{"keepalived.conf:1 a|1", "keepalived.conf:2 b|2"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := write(t, tc.files)
			cfg, err := Parse(filepath.Join(dir, "keepalived.conf"), Options{ConfigID: tc.configID})
			if err != nil {
				t.Fatal(err)
			}
			got := outline(dir, cfg.Directives)
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], dir, "DIR")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("directives (-want +got):\n%s", diff)
			}
			var warnings []string
			for _, w := range cfg.Warnings {
				rel, _ := filepath.Rel(dir, w.File)
				warnings = append(warnings, fmt.Sprintf("%s:%d %s", rel, w.Line, strings.ReplaceAll(w.Text, dir, "DIR")))
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string // in the error
	}{
		"a block left open":                  {map[string]string{"keepalived.conf": "vrrp_instance VI_1 {\n  priority 1\n"}, "keepalived.conf:1: the block of vrrp_instance is not closed"},
		"a brace that closes nothing":        {map[string]string{"keepalived.conf": "a\n}\n"}, "keepalived.conf:2: '}' closes no block"},
		"a brace with nothing to open":       {map[string]string{"keepalived.conf": "{\n"}, "keepalived.conf:1: '{' opens a block without a keyword"},
		"a quote left open":                  {map[string]string{"keepalived.conf": "notify \"/bin/x\n"}, "keepalived.conf:1: unterminated quoted string"},
		"a file that includes itself":        {map[string]string{"keepalived.conf": "include keepalived.conf\n"}, "it includes itself"},
		"includea of a pattern with no file": {map[string]string{"keepalived.conf": "includea none.conf\n"}, "keepalived.conf:1: includea"},
		"a parameter that refers to itself":  {map[string]string{"keepalived.conf": "$A=x $A\n$A\n"}, "keepalived.conf:2: parameters still expand"},
		"a random value":                     {map[string]string{"keepalived.conf": "priority ${_RANDOM 1 10}\n"}, "${_RANDOM} has no fixed value"},
		"a file that is not there":           {map[string]string{}, "no such file"},
		"sequence expansion, not supported":  {map[string]string{"keepalived.conf": "~SEQ(N, 1, 3) a $N\n"}, "keepalived.conf:1: ~SEQ: keepalived's sequence and list expansion is not supported"},
		"list expansion, not supported":      {map[string]string{"keepalived.conf": "@^a ~LST(N, x, y) a $N\n"}, "~LST: keepalived's sequence and list expansion is not supported"},
		"a parameter that doubles 40 times":  {map[string]string{"keepalived.conf": doubling(40, false)}, "parameters expand to more than"},
		// Review of issue 12: each line short, the lines doubling: 949 bytes ran out of memory.
		"a parameter of two lines that doubles 40 times": {map[string]string{"keepalived.conf": doubling(40, true)}, "parameters expand to more than 2097152 bytes in all"},
		"an include whose braces make a million patterns": {map[string]string{"keepalived.conf": "include " + strings.Repeat("{a,b}", 20) + ".conf\n"},
			strings.Repeat("{a,b}", 20) + ".conf: its braces make more than 1024 patterns"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := write(t, tc.files)
			_, err := Parse(filepath.Join(dir, "keepalived.conf"), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestSplitScript(t *testing.T) {
	cases := map[string]struct {
		in   string
		want []string
	}{
		"a program alone":                         {"/usr/local/sbin/keepalived.sh", []string{"/usr/local/sbin/keepalived.sh"}},
		"white space separates, runs of it once":  {"/usr/local/bin/vrrp.sh  BACKUP   VI_1", []string{"/usr/local/bin/vrrp.sh", "BACKUP", "VI_1"}},
		"single quotes keep a space":              {"/bin/x 'a b' c", []string{"/bin/x", "a b", "c"}},
		"a backslash keeps the next character":    {`/bin/x a\ b \'`, []string{"/bin/x", "a b", "'"}},
		"an empty quoted argument is an argument": {"/bin/x '' y", []string{"/bin/x", "", "y"}},
		"double quotes keep a space, as keepalived 2.2.7 splits notify_master '/x/n.sh \"a b\" c'": {`/x/n.sh "a b" c`, []string{"/x/n.sh", "a b", "c"}},
		"a backslash in double quotes keeps the next character":                                    {`/bin/x "a\"b" 'c"d'`, []string{"/bin/x", `a"b`, `c"d`}},
		"leading and trailing white space is none":                                                 {"  /bin/x  ", []string{"/bin/x"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := SplitScript(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SplitScript(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	for _, open := range []string{"/bin/x 'open", `/bin/x "open`} {
		if _, err := SplitScript(open); err == nil {
			t.Errorf("SplitScript(%q): an unterminated quote was accepted", open)
		}
	}
}

// doubling is a configuration whose parameter doubles n times: 2^n bytes if expanded.
func doubling(n int, lines bool) string {
	def, use := "$P%d=${P%d}${P%d}\n", "a ${P%d}\n"
	if lines { // each definition two lines: every line stays short
		def, use = "$P%d=\\\n${P%d} \\\n${P%d}\n", "${P%d}\n"
	}
	var b strings.Builder
	b.WriteString("$P0=xx\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, def, i, i-1, i-1)
	}
	fmt.Fprintf(&b, use, n)
	return b.String()
}

// TestIncludeRoot: --root reads absolute include paths under a directory, the nodes' / copied to
// the converting machine.
func TestIncludeRoot(t *testing.T) {
	dir := write(t, map[string]string{"keepalived.conf": "include /etc/keepalived/conf.d/*.conf\n", "etc/keepalived/conf.d/a.conf": "a\n"})
	cfg, err := Parse(filepath.Join(dir, "keepalived.conf"), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := outline(dir, cfg.Directives); !cmp.Equal(got, []string{"etc/keepalived/conf.d/a.conf:1 a"}) || len(cfg.Warnings) != 0 {
		t.Errorf("directives %q, warnings %v; want etc/keepalived/conf.d/a.conf:1 a and none", got, cfg.Warnings)
	}
	cfg, err = Parse(filepath.Join(dir, "keepalived.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !cfg.Warnings[0].Missing || !strings.Contains(cfg.Warnings[0].Text, "--root DIR") {
		t.Errorf("without a root: warnings %v, want one Missing that names --root", cfg.Warnings)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vrrp-dev/vrrp-operator/convert/keepalived"
)

// Exit codes of `vrrp-operator convert`, for scripts.
const (
	convertComplete   = 0 // every directive converted
	convertFailed     = 1 // nothing written: a file does not parse, the nodes disagree, ...
	convertUsage      = 2 // bad flags or arguments
	convertIncomplete = 3 // written, but some directives were not converted (reported)
)

const convertUsageText = `usage: vrrp-operator convert [flags] [--node NAME=FILE ...] [FILE ...]

Converts keepalived configurations, one per node, into VirtualIPs, the Secret of their PASS
passwords and a stub of the hook ConfigMap, written to stdout as one YAML stream for
'kubectl apply -f -' or 'vrrp-operator agent --config' (with --standalone). Every directive that is
not converted, or converted with a difference worth knowing, is reported on stderr with its file
and line.

A FILE without --node is the configuration of the node named by its base name without ".conf",
in lower case: primary.conf is node primary. The same FILE may serve several nodes when it uses
'@name' conditional lines, which keep the node name as keepalived's --config-id unless
--config-id says otherwise.

Exit status: 0 all converted, 3 converted with directives not converted (see stderr, an include
that matches no file among them), 1 nothing converted (error, no vrrp_instance among them), 2 usage.

flags:
`

// repeated is a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

// runConvert runs the convert command and exits with its status when that is not 0.
func runConvert(_ context.Context, args []string) error {
	if code := convertMain(args, os.Stdout, os.Stderr); code != convertComplete {
		os.Exit(code)
	}
	return nil
}

// convertMain is the convert command with its streams, returning the exit status.
func convertMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, convertUsageText)
		fs.PrintDefaults()
	}
	var nodeFlags, nameFlags repeated
	fs.Var(&nodeFlags, "node", "NAME=FILE: FILE is node NAME's keepalived.conf (repeatable)")
	fs.Var(&nameFlags, "name", "INSTANCE=NAME: vrrp_instance INSTANCE becomes VirtualIP NAME (repeatable; default: the instance name in lower case, '_' as '-')")
	configID := fs.String("config-id", "", "keepalived's --config-id for every node, for '@id' lines and ${_INSTANCE} (default: each node's name)")
	namespace := fs.String("namespace", keepalived.DefaultNamespace, "namespace of the Secret and the hook ConfigMap: the agents' namespace")
	secretName := fs.String("secret-name", keepalived.DefaultSecretName, "name of the Secret of the PASS passwords")
	hooksCM := fs.String("hooks-configmap", keepalived.DefaultHooksConfigMap, "name of the hook ConfigMap stub")
	root := fs.String("root", "", "directory to read absolute include paths under: the nodes' / copied to this machine (default: this machine's /)")
	standalone := fs.Bool("standalone", false, "for 'vrrp-operator agent --config': no hook ConfigMap (standalone agents run hooks from --hook-dir)")
	// Flags may follow files, as in `convert a.conf b.conf --standalone`.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return convertComplete
			}
			return convertUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vrrp-operator convert: "+format+"\n", a...)
		return convertUsage
	}
	o := keepalived.Options{ConfigID: *configID, Namespace: *namespace, SecretName: *secretName, HooksConfigMap: *hooksCM, Names: map[string]string{}, Root: *root}
	if *standalone {
		o.HooksConfigMap, o.Standalone = "", true
	}
	for _, n := range nodeFlags {
		name, file, ok := strings.Cut(n, "=")
		if !ok || name == "" || file == "" {
			return usage("--node %q: want NAME=FILE", n)
		}
		o.Nodes = append(o.Nodes, keepalived.Node{Name: name, File: file})
	}
	for _, file := range files {
		name := strings.ToLower(strings.TrimSuffix(filepath.Base(file), ".conf"))
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			return usage("%s: %q is not a node name (%s): use --node NAME=%s", file, name, strings.Join(msgs, "; "), file)
		}
		o.Nodes = append(o.Nodes, keepalived.Node{Name: name, File: file})
	}
	if len(o.Nodes) == 0 {
		fs.Usage()
		return convertUsage
	}
	seen := map[string]bool{}
	for _, n := range o.Nodes {
		if msgs := validation.IsDNS1123Subdomain(n.Name); len(msgs) > 0 {
			return usage("node name %q: %s", n.Name, strings.Join(msgs, "; "))
		}
		if seen[n.Name] {
			return usage("node %s is given twice", n.Name)
		}
		seen[n.Name] = true
	}
	for _, n := range nameFlags {
		inst, name, ok := strings.Cut(n, "=")
		if !ok || inst == "" || name == "" {
			return usage("--name %q: want INSTANCE=NAME", n)
		}
		o.Names[inst] = name
	}

	res, err := keepalived.Convert(o)
	if errors.Is(err, keepalived.ErrUnknownInstance) {
		return usage("%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vrrp-operator convert: %v\n", err)
		return convertFailed
	}
	var out bytes.Buffer
	var from []string
	for _, n := range o.Nodes {
		from = append(from, fmt.Sprintf("%s (node %s)", n.File, n.Name))
	}
	fmt.Fprintf(&out, "# Converted by vrrp-operator convert from %s.\n", strings.Join(from, ", "))
	if err := keepalived.WriteYAML(&out, res); err != nil {
		fmt.Fprintf(stderr, "vrrp-operator convert: %v\n", err)
		return convertFailed
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
		fmt.Fprintf(stderr, "vrrp-operator convert: writing the manifests: %v\n", err)
		return convertFailed
	}
	notes, unmapped := 0, 0
	for _, f := range res.Findings {
		fmt.Fprintln(stderr, f)
		if f.Severity == keepalived.Unmapped {
			unmapped++
		} else {
			notes++
		}
	}
	fmt.Fprintf(stderr, "vrrp-operator convert: %d VirtualIP(s) from %d node(s); %d not converted, %d note(s)\n",
		len(res.VirtualIPs), len(o.Nodes), unmapped, notes)
	if !res.Complete() {
		return convertIncomplete
	}
	return convertComplete
}

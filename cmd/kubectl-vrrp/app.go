package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
	"github.com/vrrp-dev/vrrp-operator/internal/dark"
)

// Exit codes; the package comment says what each means.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTimeout  = 3
	exitProblems = 4
)

// timeSource is the part of k8s.io/utils/clock the plugin uses; tests pass one that jumps ahead.
type timeSource interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}

// app is one run of the plugin.
type app struct {
	stdout, stderr io.Writer
	clock          timeSource
	colour         bool
	// newClient builds the client from the kubeconfig flags; tests replace it with a fake.
	newClient func(clientcmd.ClientConfig) (client.Client, error)
	// pollInterval is how often waits read status; zero is defaultPollInterval.
	pollInterval time.Duration
	// withTimeout gives a wait its deadline; nil is context.WithTimeout. Tests pass their clock's.
	withTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	// own and conn are the command's flags and the connection flags, for --help.
	own, conn *pflag.FlagSet
}

const defaultPollInterval = 100 * time.Millisecond

// readTimeout bounds each request of the commands that only read (status, explain); a variable
// for tests.
var readTimeout = 30 * time.Second

// options are the parsed flags of a command.
type options struct {
	output  string
	timeout time.Duration
	to      string
	clear   bool
	node    string

	kubeconfig string
	overrides  clientcmd.ConfigOverrides
}

// command is one verb of the plugin.
type command struct {
	name, usage, short, long string
	// nargs is the number of positional arguments: exactly, or up to -nargs when negative.
	nargs int
	flags func(*pflag.FlagSet, *options)
	// check validates the flags before the client is built: a usage mistake is one whatever the
	// kubeconfig.
	check func(o *options) error
	run   func(ctx context.Context, a *app, c client.Client, o *options, args []string) error
}

var commands = []command{statusCommand, failoverCommand, drainCommand, undrainCommand, explainCommand}

const overview = `kubectl vrrp steers and explains vrrp-operator's VirtualIPs.

Usage:
  kubectl vrrp <command> [flags]

Commands:
%s
Output: tables for people (colour on a terminal only), -o json or -o yaml for scripts.
Exit codes: 0 ok, 1 error, 2 usage, 3 timeout (the change did not converge), 4 status shows a problem.

Run 'kubectl vrrp <command> --help' for a command's flags.
`

func (a *app) usage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, overview, b.String())
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// timeoutError is a change that did not converge: exit code 3.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }

// errProblems is a status that shows a problem: exit code 4, the output has said what.
var errProblems = errors.New("the status shows problems")

// run parses args, runs the command and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	// What the plugin prints comes in part from the cluster (a check's output as a FAULT message,
	// annotations, node names): nothing of it may act on the terminal.
	a.stdout, a.stderr = terminalSafe(a.stdout), terminalSafe(a.stderr)
	o := &options{}
	global := pflag.NewFlagSet("kubectl vrrp", pflag.ContinueOnError)
	bindOutput(global, o)
	bindConnection(global, o)
	name, rest := splitCommand(global, args)
	if name == "" {
		if len(rest) > 0 && isHelp(rest) {
			a.usage(a.stdout)
			return exitOK
		}
		a.usage(a.stderr)
		return exitUsage
	}
	if name == "help" {
		a.usage(a.stdout)
		return exitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(a.stderr, "kubectl vrrp: unknown command %q\n\n", name)
		a.usage(a.stderr)
		return exitUsage
	}
	own, conn := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError), pflag.NewFlagSet("connection", pflag.ContinueOnError)
	bindOutput(own, o)
	if cmd.flags != nil {
		cmd.flags(own, o)
	}
	bindConnection(conn, o)
	fs := pflag.NewFlagSet("kubectl vrrp "+cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.AddFlagSet(own)
	fs.AddFlagSet(conn)
	a.own, a.conn = own, conn
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			a.commandUsage(a.stdout, cmd)
			return exitOK
		}
		return a.fail(usagef("%v", err), cmd)
	}
	pos := fs.Args()
	switch {
	case cmd.nargs >= 0 && len(pos) != cmd.nargs:
		return a.fail(usagef("%s takes %d argument(s), got %d: %q", cmd.name, cmd.nargs, len(pos), pos), cmd)
	case cmd.nargs < 0 && len(pos) > -cmd.nargs:
		return a.fail(usagef("%s takes at most %d argument(s), got %d: %q", cmd.name, -cmd.nargs, len(pos), pos), cmd)
	}
	switch o.output {
	case "", "json", "yaml":
	default:
		return a.fail(usagef("--output %q: want json or yaml (or nothing, for a table)", o.output), cmd)
	}
	if cmd.check != nil {
		if err := cmd.check(o); err != nil {
			return a.fail(err, cmd)
		}
	}
	c, err := a.client(o)
	if err != nil {
		return a.fail(err, cmd)
	}
	return a.fail(cmd.run(ctx, a, c, o, pos), cmd)
}

// fail prints err and returns its exit code; nil is success.
func (a *app) fail(err error, cmd *command) int {
	var usage usageError
	var timeout timeoutError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.As(err, &usage):
		fmt.Fprintf(a.stderr, "kubectl vrrp %s: %v\nSee 'kubectl vrrp %s --help' for usage.\n", cmd.name, err, cmd.name)
		return exitUsage
	case errors.As(err, &timeout):
		fmt.Fprintf(a.stderr, "kubectl vrrp %s: %v\n", cmd.name, err)
		return exitTimeout
	default:
		fmt.Fprintf(a.stderr, "kubectl vrrp %s: %v\n", cmd.name, err)
		return exitError
	}
}

func (a *app) commandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "%s\n\nUsage:\n  kubectl vrrp %s %s\n", cmd.short, cmd.name, cmd.usage)
	if cmd.long != "" {
		fmt.Fprintf(w, "\n%s\n", cmd.long)
	}
	fmt.Fprintf(w, "\nFlags:\n%s\nConnection flags, as kubectl's:\n%s", a.own.FlagUsages(), a.conn.FlagUsages())
}

// bindOutput binds -o, which every command has.
func bindOutput(fs *pflag.FlagSet, o *options) {
	fs.StringVarP(&o.output, "output", "o", "", "output format: json or yaml (default: a table for people)")
}

// bindConnection binds kubectl's own connection flags: --kubeconfig, --context, --as, -n, ...
func bindConnection(fs *pflag.FlagSet, o *options) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	clientcmd.BindOverrideFlags(&o.overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))
	// Accepted as kubectl accepts it, but VirtualIPs and Nodes belong to no namespace.
	fs.Lookup("namespace").Usage = "accepted for kubectl's sake; VirtualIPs and Nodes are cluster-scoped"
}

// splitCommand finds the command among args: the first argument that is neither a flag nor the value
// of a global flag. It returns the command and the other arguments.
func splitCommand(global *pflag.FlagSet, args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return "", args
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			rest := append(append([]string{}, args[:i]...), args[i+1:]...)
			return arg, rest
		}
		if strings.Contains(arg, "=") {
			continue
		}
		var f *pflag.Flag
		if name, ok := strings.CutPrefix(arg, "--"); ok {
			f = global.Lookup(name)
		} else if len(arg) == 2 {
			f = global.ShorthandLookup(arg[1:])
		}
		if f != nil && f.NoOptDefVal == "" {
			i++ // the flag's value
		}
	}
	return "", args
}

func isHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

// client connects as kubectl would: --kubeconfig, else $KUBECONFIG, else ~/.kube/config, then the
// overrides (--context, --cluster, --user, --server, --as, ...).
func (a *app) client(o *options) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &o.overrides)
	if a.newClient != nil {
		return a.newClient(cc)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-vrrp"
	// No request waits longer than --timeout, or readTimeout for the commands without one (unless
	// --request-timeout says otherwise): the reads and the change before a wait have no deadline
	// of their own, and an API server that accepts connections but does not answer would hold the
	// command for ever.
	if cfg.Timeout == 0 {
		cfg.Timeout = cmp.Or(o.timeout, readTimeout)
	}
	// As kubectl's: client-go's default of 5 requests a second held a wait's polls back, and
	// past the deadline its limiter failed a request with an error of its own.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 300
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, explainAPIError(err))
	}
	return c, nil
}

// scheme knows Nodes and VirtualIPs.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = vrrpv1.AddToScheme(s)
	return s
}

// explainAPIError turns the API errors a person meets into sentences that say what to do.
func explainAPIError(err error) error {
	switch {
	case err == nil:
		return nil
	case meta.IsNoMatchError(err):
		return noCRDError{err}
	case apierrors.IsForbidden(err):
		return fmt.Errorf("no permission: %w", err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("not logged in (the server does not accept the kubeconfig's credentials): %w", err)
	}
	return err
}

// noCRDError is the API server's answer when the VirtualIP CRD is missing. It says so in words and
// leaves out the discovery details, which name no resource a person would look for.
type noCRDError struct{ err error }

func (e noCRDError) Error() string {
	return fmt.Sprintf("the VirtualIP CRD is not installed: the server has no resource type virtualips.%s (install the chart, or `make install`)",
		vrrpv1.GroupVersion.Group)
}

func (e noCRDError) Unwrap() error { return e.err }

// vipNotFound is the error of a VirtualIP that does not exist.
type vipNotFound struct{ name string }

func (e vipNotFound) Error() string {
	return fmt.Sprintf("VirtualIP %q not found (kubectl get vip lists them)", e.name)
}

// getVIP reads one VirtualIP with errors a person understands.
func getVIP(ctx context.Context, c client.Client, name string) (*vrrpv1.VirtualIP, error) {
	var v vrrpv1.VirtualIP
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &v); err != nil {
		if apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
			return nil, vipNotFound{name}
		}
		return nil, fmt.Errorf("reading VirtualIP %s: %w", name, explainAPIError(err))
	}
	return &v, nil
}

// listVIPs reads every VirtualIP, sorted by name.
func listVIPs(ctx context.Context, c client.Client) ([]vrrpv1.VirtualIP, error) {
	var l vrrpv1.VirtualIPList
	if err := c.List(ctx, &l); err != nil {
		return nil, fmt.Errorf("listing VirtualIPs: %w", explainAPIError(err))
	}
	sortByName(l.Items, func(v vrrpv1.VirtualIP) string { return v.Name })
	return l.Items, nil
}

// getNode reads one Node; an unknown one is an error that says so.
func getNode(ctx context.Context, c client.Client, name string) (*corev1.Node, error) {
	var n corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("node %q not found (kubectl get nodes lists them)", name)
		}
		return nil, fmt.Errorf("reading node %s: %w", name, explainAPIError(err))
	}
	return &n, nil
}

// nodeSet is every Node, sorted by name, and those gone dark (dark.Nodes): what their entries say is
// only what their agents last reported.
type nodeSet struct {
	items []corev1.Node
	dark  map[string]string
}

// agentPods selects the pods of the agent DaemonSet, as the controller does by default.
var agentPods = func() labels.Selector {
	s, err := labels.Parse(dark.DefaultAgentPodSelector)
	if err != nil {
		panic(err) // a constant
	}
	return s
}()

// listNodes reads every Node, and the agent pods, which tell the nodes whose agent is gone as the
// controller tells them. Without permission to list pods in every namespace, or when none matches
// (agents installed under other labels are not all gone), only a silent kubelet makes a node dark.
func listNodes(ctx context.Context, c client.Client) (nodeSet, error) {
	var l corev1.NodeList
	if err := c.List(ctx, &l); err != nil {
		return nodeSet{}, fmt.Errorf("listing nodes: %w", explainAPIError(err))
	}
	if l.Items == nil {
		l.Items = []corev1.Node{} // read, and none: nil says the Nodes could not be read
	}
	sortByName(l.Items, func(n corev1.Node) string { return n.Name })
	var pods corev1.PodList
	err := c.List(ctx, &pods, client.MatchingLabelsSelector{Selector: agentPods})
	if err != nil && !apierrors.IsForbidden(err) {
		return nodeSet{}, fmt.Errorf("listing the agent pods: %w", explainAPIError(err))
	}
	var agents []corev1.Pod
	if err == nil && len(pods.Items) > 0 {
		agents = pods.Items
	}
	return nodeSet{items: l.Items, dark: dark.Nodes(l.Items, agents)}, nil
}

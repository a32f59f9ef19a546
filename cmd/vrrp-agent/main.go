// Command vrrp-agent runs VRRP routers from a file of VirtualIPs without Kubernetes: keepalived's
// role. It is `vrrp-operator agent --config` without the Kubernetes client, whose packages'
// initialisation alone made up half of a standalone agent's resident memory (issue 12).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/vrrp-dev/vrrp-operator/agent/standalone"
)

const usage = `usage: vrrp-agent --config FILE [flags]

Runs the VRRP routers that FILE's VirtualIPs give this node, as 'vrrp-operator agent --config' does,
and reads FILE again every --resync.

flags:
`

func main() {
	// SIGHUP rereads the file (keepalived's reload) once the agent runs; before, its default
	// action would end the agent, routers and all, without leaving.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	// The first signal starts a clean shutdown; stop restores the default action, so a second kills.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vrrp-agent: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	return standalone.Run(ctx, o)
}

func parseFlags(args []string) (standalone.Options, error) {
	fs := flag.NewFlagSet("vrrp-agent", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	options := standalone.Flags(fs)
	// The shared text sets --config against a cluster, which this command never runs in.
	fs.Lookup("config").Usage = "the YAML stream of VirtualIPs, Secrets and Nodes to run (required)"
	if err := fs.Parse(args); err != nil {
		return standalone.Options{}, err
	}
	o, err := options()
	if err != nil {
		return o, err
	}
	if o.ConfigFile == "" {
		return o, errors.New("--config is required: the file of VirtualIPs to run (in a cluster, run vrrp-operator agent)")
	}
	return o, nil
}

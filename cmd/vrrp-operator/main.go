// Command vrrp-operator is the one binary of the project: `vrrp-operator agent` runs the VRRP speaker
// of a node, `vrrp-operator controller` the cluster-side reconciler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: vrrp-operator <command> [flags]

commands:
  agent       run the VRRP speaker of this node (in a cluster, or standalone with --config)
  controller  run the cluster-side reconciler: status summary, conditions, stale entries
  convert     convert keepalived.conf files (one per node) into VirtualIP manifests
  stop-agents delete the agent DaemonSet, if Helm installed it for --release, and wait until its
              pods have stopped (the chart's pre-delete hook, so that agents stop before their
              permissions go)

Run 'vrrp-operator <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	// SIGHUP, keepalived's reload, must not end an agent without leaving; the standalone agent
	// rereads its file on it (agent/standalone), the others have nothing to reread.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		// The first signal starts a clean shutdown; a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	var err error
	switch os.Args[1] {
	case "agent":
		err = runAgent(ctx, os.Args[2:])
	case "controller":
		err = runController(ctx, os.Args[2:])
	case "convert":
		err = runConvert(ctx, os.Args[2:])
	case "stop-agents":
		err = runStopAgents(ctx, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "vrrp-operator: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vrrp-operator %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

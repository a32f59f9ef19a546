// Command kubectl-vrrp is the kubectl plugin of vrrp-operator: `kubectl vrrp status`, `failover`,
// `drain`, `undrain` and `explain` steer and explain VirtualIPs without annotation names. Copied onto
// PATH (or installed with krew) it runs as `kubectl vrrp ...`.
//
// Exit codes, for scripts:
//
//	0  done: the change converged, or the status shows no problem
//	1  error: the API refused or failed (no CRD, no such VirtualIP or node, no permission, ...)
//	2  usage: unknown command or flag, missing or extra arguments
//	3  timeout: the change was made but status did not converge within --timeout
//	4  status (only): a VirtualIP shows a problem (split brain, no Master, conflict, FAULT, ...)
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/term"
	"k8s.io/utils/clock"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// controller-runtime's client warns on stderr when no logger was set; the plugin logs nothing.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{
		stdout: os.Stdout,
		stderr: os.Stderr,
		clock:  clock.RealClock{},
		colour: colourWanted(term.IsTerminal(int(os.Stdout.Fd())), os.Getenv),
	}
	os.Exit(a.run(ctx, os.Args[1:]))
}

// colourWanted: colour only on a terminal, and not when NO_COLOR is set (no-color.org) or the
// terminal is dumb.
func colourWanted(terminal bool, getenv func(string) string) bool {
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

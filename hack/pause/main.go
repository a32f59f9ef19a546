// Command pause holds a pod's namespaces in a local cluster, as registry.k8s.io/pause does: it
// sleeps until SIGTERM or SIGINT and then exits 0. As PID 1 of the pod it also reaps the zombies of
// processes reparented to it, which nothing else would wait for.
//
// `make pause-image` builds it statically and packs it as the image registry.k8s.io/pause:3.10,
// containerd's default sandbox image, so a cluster without network access can start pods.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `Usage: pause

Sleeps until SIGTERM or SIGINT, then exits 0; reaps zombie children meanwhile. It is PID 1 of a
pod sandbox (make pause-image).
`)
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	// Printed once the handlers are in place, which tests wait for.
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: not PID 1; only my own children are reaped")
	}
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap waits for every child that has exited. Signals coalesce, so one SIGCHLD may stand for
// several children.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}

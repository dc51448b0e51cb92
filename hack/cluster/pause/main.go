// Command pause holds a pod sandbox's namespaces: it waits for SIGINT or
// SIGTERM and exits, and reaps children if it runs as PID 1 of a shared PID
// namespace. It stands in for registry.k8s.io/pause, which cannot be pulled
// here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}

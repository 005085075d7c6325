//go:build !windows

package main

import (
	"log/slog"
	"os"
	"syscall"
)

// reexec replaces the process with a fresh start of the same program, arguments and
// environment: the same PID, so a service manager (systemd Type=notify) keeps
// following it. exe is the program's path taken at start (after a software update
// it names the new build); empty: the running image's. It returns only when that
// fails.
func reexec(log *slog.Logger, exe string) int {
	var err error
	if exe == "" {
		exe, err = os.Executable()
	}
	if err == nil {
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	log.Error("restart: cannot start the program again; exiting so the service manager restarts it", "err", err)
	return exitRestart
}

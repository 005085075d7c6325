package main

import "log/slog"

// reexec ends the process with exitRestart: the Service Control Manager's recovery
// actions (set by "service install") start it again, from exe's path: after a
// software update, the new build.
func reexec(log *slog.Logger, _ string) int {
	log.Info("restart: exiting for the service manager to start the agent again")
	return exitRestart
}

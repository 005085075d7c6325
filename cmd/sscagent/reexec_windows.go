package main

import "log/slog"

// reexec ends the process with exitRestart: the Service Control Manager's recovery
// actions (set by "service install") start it again.
func reexec(log *slog.Logger) int {
	log.Info("restart: exiting for the service manager to start the agent again")
	return exitRestart
}

//go:build !windows

package agent

func defaultStateDir() string { return "/var/lib/sscagent" }

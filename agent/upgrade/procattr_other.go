//go:build !linux

package upgrade

import "os/exec"

// setTrialAttr: only Linux has a parent-death signal. Elsewhere a trial child that
// outlives a killed parent is not stopped by it (docs/deploy.md).
func setTrialAttr(*exec.Cmd) {}

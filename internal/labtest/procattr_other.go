//go:build !linux

package labtest

import "os/exec"

// dieWithTest is Linux only (PR_SET_PDEATHSIG).
func dieWithTest(cmd *exec.Cmd) {}

package upgrade

import (
	"os/exec"
	"syscall"
)

// setTrialAttr makes the kernel kill the trial child should this process die: an
// orphaned trial would hold the stores and ports of the agent that starts next.
func setTrialAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package agent

import (
	"context"
	"time"

	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// newUpdater builds the upgrade command's side of the agent (package agent/upgrade).
// Without a restart path (tests, the demo) the command is refused: a staged build
// would wait for a restart that never comes.
func (a *Agent) newUpdater(cfg Config, o Options) (*upgrade.Updater, error) {
	exe := o.Executable
	if a.restart == nil {
		exe = ""
	}
	return upgrade.New(upgrade.Options{Config: cfg.Upgrade, StateDir: cfg.Agent.StateDir, Exe: exe,
		Restart: a.restart,
		Emit: func(kind string, ok bool, code prompt.Code, cause string, data map[string]any) {
			a.emit(event.Kind(kind), "", "upgrade", ok, code, cause, data)
		},
		Logger: a.log.With("component", "upgrade")})
}

// reportHealthy tells the updater once every part is up (it is called from the ready
// callback) and terminal management is connected: a build that cannot be managed is
// not a healthy build.
func (a *Agent) reportHealthy(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !a.mgmt.Online() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	a.upgrade.Healthy()
}

// install is how the agent was installed, for the birth (upgrade.InstallKind).
func (a *Agent) install() string {
	if a.upgrade == nil {
		return ""
	}
	return a.upgrade.Install()
}

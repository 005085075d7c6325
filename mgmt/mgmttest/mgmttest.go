// Package mgmttest gives the terminal-management tests a realistic agent side: a real
// mgmt.Session per simulated terminal (NewSession), over package fleetsim's Applier,
// which validates remote documents exactly as the agent validates its configuration file
// (agent.LoadConfigOverlay over a real file), applies them by recording the running
// configuration, and probes health the way the agent's gate does for the platform link,
// with a switch to make it fail. It is for tests only.
package mgmttest

import "github.com/sscagent/sscagent/mgmt/fleetsim"

// Applier is a rollout.Applier over a real configuration file (fleetsim.Applier).
type Applier = fleetsim.Applier

// BaseConfig returns a valid configuration file for terminal id whose platform is at
// platformURL and whose state lives in stateDir.
func BaseConfig(id, platformURL, stateDir string) string {
	return fleetsim.BaseConfig(id, platformURL, stateDir)
}

// NewApplier writes base to a file in dir and returns an Applier running the file alone.
func NewApplier(dir, base string) (*Applier, error) { return fleetsim.NewApplier(dir, base) }

// ErrUnhealthy is a health failure tests can force.
var ErrUnhealthy = fleetsim.ErrUnhealthy

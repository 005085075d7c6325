package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Phases of an upgrade, persisted in STATEDIR/upgrade/state.json before each step so
// that a crash at any moment is recovered at the next start (docs/deploy.md).
const (
	PhaseStaged     = "staged"     // verified and written beside the executable, waiting for the restart
	PhaseTrial      = "trial"      // the old process runs the new build as a trial child
	PhaseSwapping   = "swapping"   // the trial passed; the binaries are being renamed
	PhaseSwapped    = "swapped"    // the new build is in place and starts next
	PhaseConfirming = "confirming" // the new build runs and must report healthy
	PhaseDone       = "done"       // the new build is healthy: the upgrade is over
	PhaseFailed     = "failed"     // refused after staging, or rolled back: the old build runs
	// PhaseHelper: a package verified, downloaded and handed to the root helper, which
	// installs it, restarts the service and writes the outcome (handover.go).
	PhaseHelper = "helper"
)

// State is the persisted upgrade.
type State struct {
	Phase string `json:"phase"`
	// CommandID is the management command that started the upgrade.
	CommandID string `json:"commandId,omitempty"`
	From      string `json:"from"`
	To        string `json:"to"`
	// Manifest is the verified manifest's exact bytes.
	Manifest []byte `json:"manifest"`
	// Exe is the executable replaced, Staged the new build beside it, Prev the old
	// build kept after the swap.
	Exe    string `json:"exe"`
	Staged string `json:"staged"`
	Prev   string `json:"prev"`
	// Reason says why a failed upgrade failed (for the maintainer), Code its 8.4 code
	// when it is not CodeRolledBack (the root helper's refusals).
	Reason string      `json:"reason,omitempty"`
	Code   prompt.Code `json:"code,omitempty"`
	At     time.Time   `json:"at"`
	// Reported is set once the outcome has been published (an event).
	Reported bool `json:"reported,omitempty"`
}

// Final reports whether the upgrade is over.
func (s State) Final() bool { return s.Phase == PhaseDone || s.Phase == PhaseFailed }

func statePath(dir string) string { return filepath.Join(dir, "upgrade", "state.json") }

// LoadState reads the persisted upgrade; ok is false when there is none. A damaged
// file is an error: nothing is guessed about binaries.
func LoadState(stateDir string) (s State, ok bool, err error) {
	b, err := os.ReadFile(statePath(stateDir))
	if errors.Is(err, os.ErrNotExist) {
		return State{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return State{}, false, fmt.Errorf("upgrade state: %w", err)
	}
	return s, true, nil
}

func saveState(stateDir string, s State) error {
	s.At = time.Now().UTC()
	if err := os.MkdirAll(filepath.Dir(statePath(stateDir)), 0o700); err != nil {
		return fmt.Errorf("upgrade state: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return atomicfile.Write(statePath(stateDir), b, 0o600)
}

package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sscagent/sscagent/internal/version"
)

// StateSchema is the version of the state directory's layout as a whole (queue.db,
// payments.db, rollout/, queue.key): raised whenever a release changes one of them in
// a way an older release cannot read. A release reads every schema up to its own and
// upgrades it; it refuses a newer one before it opens anything (docs/deploy.md,
// "Upgrades and downgrades").
const StateSchema = 1

// StateMarker is the file in the state directory that records StateSchema.
const StateMarker = "state-schema.json"

// ErrNewerState means the state directory was written by a newer release.
var ErrNewerState = errors.New("state directory written by a newer sscagent")

type stateMark struct {
	Schema    int    `json:"schema"`
	WrittenBy string `json:"writtenBy,omitempty"`
}

// parseStateMark reads a marker file's contents.
func parseStateMark(b []byte) (stateMark, error) {
	var m stateMark
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("not JSON: %w", err)
	}
	if m.Schema < 1 {
		return m, fmt.Errorf("schema %d: want 1 or more", m.Schema)
	}
	return m, nil
}

// CheckStateDir refuses a state directory whose marker names a newer schema than this
// build reads, or whose marker is unreadable. It only reads: a refused directory is
// left exactly as it was. A directory without a marker (new, or from a release before
// markers) passes.
func CheckStateDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, StateMarker))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: state directory %s: %w", dir, err)
	}
	m, err := parseStateMark(b)
	if err != nil {
		return fmt.Errorf("agent: state directory %s: %s: %w; nothing was changed", dir, StateMarker, err)
	}
	if m.Schema > StateSchema {
		by := m.WrittenBy
		if by == "" {
			by = "a newer release"
		}
		return fmt.Errorf("agent: %w: %s was written by sscagent %s (state schema %d); this build (%s) reads up to schema %d. "+
			"Install that release or a newer one, or start this one on an empty state directory; nothing was changed",
			ErrNewerState, dir, by, m.Schema, version.Get().Version, StateSchema)
	}
	return nil
}

// markStateDir records this build's schema in dir, unless the marker already says so.
func markStateDir(dir string) error {
	path := filepath.Join(dir, StateMarker)
	if b, err := os.ReadFile(path); err == nil {
		if m, err := parseStateMark(b); err == nil && m.Schema == StateSchema {
			return nil
		}
	}
	b, _ := json.Marshal(stateMark{Schema: StateSchema, WrittenBy: version.Get().Version})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("agent: state marker: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("agent: state marker: %w", err)
	}
	return nil
}

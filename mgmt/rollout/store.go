package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/atomicfile"
)

// The directory holds:
//
//	state.json          versions, the pending apply and its phase, the last report
//	doc-<sha256>.yaml   documents by content: last-known-good and the pending one
//
// A document file is written (and fsynced) before state.json refers to it and removed
// only after state.json stopped referring to it, so a crash at any point leaves a
// state.json whose documents exist and match their hashes; stray files are removed at
// the next open.

const stateFile = "state.json"

// Phases of a pending apply.
const (
	phaseStaged      = "staged"
	phaseApplying    = "applying"
	phaseGating      = "gating"
	phaseRollingBack = "rolling-back"
)

type pendingState struct {
	Ref
	Phase  string    `json:"phase"`
	Boots  int       `json:"boots,omitempty"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
}

type persisted struct {
	Format     int           `json:"format"`
	Committed  Ref           `json:"committed"`
	Last       Ref           `json:"last"`
	Pending    *pendingState `json:"pending,omitempty"`
	LastReport *Report       `json:"lastReport,omitempty"`
}

type store struct {
	dir     string
	state   persisted
	lkg     []byte // last-known-good document (nil: the file alone)
	pending []byte // pending document, nil when none or when its file is damaged
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	s := &store{dir: dir, state: persisted{Format: 1}}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("rollout: %w", err)
	}
	if err := json.Unmarshal(b, &s.state); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, stateFile, err)
	}
	if s.state.Format != 1 {
		return nil, fmt.Errorf("rollout: %s has format %d; this build reads 1", stateFile, s.state.Format)
	}
	if c := s.state.Committed; c.SHA256 != "" {
		if s.lkg, err = s.readDoc(c.SHA256); err != nil {
			return nil, fmt.Errorf("%w: last-known-good version %d: %v", ErrCorrupt, c.Version, err)
		}
	}
	if p := s.state.Pending; p != nil {
		s.pending, _ = s.readDoc(p.SHA256) // nil when damaged: the boot rules roll it back
	}
	s.removeStray()
	return s, nil
}

func (s *store) docPath(sha string) string { return filepath.Join(s.dir, "doc-"+sha+".yaml") }

func (s *store) readDoc(sha string) ([]byte, error) {
	b, err := os.ReadFile(s.docPath(sha))
	if err != nil {
		return nil, err
	}
	if Hash(b) != sha {
		return nil, errors.New("content does not match its hash")
	}
	return b, nil
}

func (s *store) writeDoc(ref Ref, doc []byte) error {
	return atomicfile.Write(s.docPath(ref.SHA256), doc, 0o600)
}

// removeStray deletes document files state.json does not refer to.
func (s *store) removeStray() {
	keep := map[string]bool{}
	if s.state.Committed.SHA256 != "" {
		keep[s.docPath(s.state.Committed.SHA256)] = true
	}
	if p := s.state.Pending; p != nil {
		keep[s.docPath(p.SHA256)] = true
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		p := filepath.Join(s.dir, n)
		if strings.HasPrefix(n, "doc-") && !keep[p] || strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			os.Remove(p)
		}
	}
}

func (s *store) save() error {
	b, err := json.MarshalIndent(s.state, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.dir, stateFile), b, 0o600)
}

// stage records doc as the pending apply.
func (s *store) stage(ref Ref, doc []byte) error {
	if err := s.writeDoc(ref, doc); err != nil {
		return err
	}
	s.state.Pending = &pendingState{Ref: ref, Phase: phaseStaged, Since: time.Now().UTC()}
	s.pending = doc
	return s.save()
}

func (s *store) setPhase(phase, reason string) error {
	if s.state.Pending == nil {
		return errors.New("rollout: no pending apply")
	}
	s.state.Pending.Phase = phase
	s.state.Pending.Reason = reason
	return s.save()
}

// commit makes doc the last-known-good and clears the pending apply.
func (s *store) commit(ref Ref, doc []byte) error {
	if err := s.writeDoc(ref, doc); err != nil {
		return err
	}
	s.state.Committed = ref
	s.state.Pending = nil
	s.lkg, s.pending = doc, nil
	if err := s.save(); err != nil {
		return err
	}
	s.removeStray()
	return nil
}

// unstage drops the pending apply (after a rollback).
func (s *store) unstage() error {
	s.state.Pending = nil
	s.pending = nil
	if err := s.save(); err != nil {
		return err
	}
	s.removeStray()
	return nil
}

// Package rollout applies remote configuration safely: a versioned document from
// terminal management goes through
//
//	screen -> validate -> stage -> apply -> health gate -> commit
//	                                   \-> (apply fails / gate fails) -> roll back to last-known-good
//
// and every step is reported (version, status, reason, every validation problem). The
// last-known-good document and any apply in flight are persisted in a directory of the
// state dir, so an agent restart in the middle of an apply is finished deterministically:
//
//   - staged, not yet applied: the agent boots on last-known-good and the flow restarts;
//   - applying or gating: the agent boots on the pending document and the health gate is
//     run again with a fresh window, at most Options.MaxBoots times; a further restart
//     during the same gate (a crash loop) rolls back at boot, before anything runs;
//   - rolling back: the agent boots on last-known-good and the rollback is reported.
//
// A document is an overlay in the configuration file's YAML shape, decoded over the
// terminal's own file (agent.LoadConfigOverlay): mappings merge field by field, lists and
// scalars replace, null is refused, and a few paths (Options.Immutable) may not be set,
// so a group of terminals can share one document while each keeps its own identity.
// Secrets never travel in a document (Screen refuses PEM blocks and raw keys): they are
// installed on the terminal as files and a document only names their paths. Versions only move
// forward: a version at or below the last one processed is reported stale and ignored,
// and the redelivery of the last one (a retained message after a reconnect) is silently
// ignored. A document whose effective configuration equals the running one is committed
// as unchanged without calling Apply, so a no-op push restarts nothing.
//
// The agent provides the Applier: validation with exactly the rules of the configuration
// file, the apply itself, and the health probe (readers, PSAM, platform reachable).
package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Applier is what the agent provides to the rollout.
type Applier interface {
	// Validate checks doc, a remote overlay, with the same rules as the configuration
	// file and returns the effective configuration it yields in a canonical form, which
	// is compared with the running one to detect a no-op. An invalid document returns a
	// *config.Error listing every problem.
	Validate(doc []byte) (effective []byte, err error)
	// Apply makes doc the running configuration (restarting the parts it affects). It
	// must be idempotent: applying the running document changes nothing.
	Apply(ctx context.Context, doc []byte) error
	// Health reports whether the terminal works with the running configuration; a nil
	// error passes the gate.
	Health(ctx context.Context) error
}

// Status is where a version stands on the terminal.
type Status string

// Statuses. Applying and gating are progress; the others are final.
const (
	StatusApplying       Status = "applying"
	StatusGating         Status = "gating"
	StatusCommitted      Status = "committed"
	StatusUnchanged      Status = "unchanged"
	StatusRejected       Status = "rejected"
	StatusRolledBack     Status = "rolled-back"
	StatusRollbackFailed Status = "rollback-failed"
	StatusStale          Status = "stale"
	// StatusRefused is the management session's, never the engine's: a message that
	// failed verification (not signed by a pinned manager key, for another terminal,
	// ...) never reaches the engine (docs/mgmt-protocol.md §10.1).
	StatusRefused Status = "refused"
)

// Final reports whether s ends the processing of a version.
func (s Status) Final() bool { return s != StatusApplying && s != StatusGating }

// Ref names one document: its version and the SHA-256 of its bytes (hex).
type Ref struct {
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256,omitempty"`
}

// Problem is one reason a document was rejected, at a configuration path when it has one.
type Problem struct {
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

// Desired is a document offered by terminal management.
type Desired struct {
	Version uint64
	Doc     []byte
}

// Report is the outcome (or progress) of one version.
type Report struct {
	Ref
	Status    Status    `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	Problems  []Problem `json:"problems,omitempty"`
	Committed Ref       `json:"committed"`
	Time      time.Time `json:"time"`
}

// Boot says which document the agent builds itself from at start.
type Boot struct {
	// Doc is the overlay to lay over the configuration file (empty: the file alone).
	Doc []byte
	Ref Ref
	// Pending is true when Doc is an apply that was not committed yet; Run gates it.
	Pending bool
}

// Options configure an Engine. Zero values take the defaults noted.
type Options struct {
	// Dir holds the engine's files; required. Use a directory of the agent's state dir.
	Dir string
	// Applier is required.
	Applier Applier
	// Window is how long the health gate waits for Health to pass. Default 2m.
	Window time.Duration
	// Interval is the pause between health probes. Default 5s.
	Interval time.Duration
	// ApplyTimeout bounds one Apply. Default 1m.
	ApplyTimeout time.Duration
	// MaxBoots is how many agent restarts during one health gate are re-gated before the
	// pending document is rolled back at boot. Default 1; negative means 0.
	MaxBoots int
	// Immutable paths may not be set by a remote document. Nil means DefaultImmutable.
	Immutable []string
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// ErrCorrupt means a persisted file does not match its recorded hash. The directory
// should be moved aside; the agent then starts on its configuration file alone.
var ErrCorrupt = errors.New("rollout: persisted state is corrupt")

// maxOffers bounds the documents waiting while one is being applied.
const maxOffers = 16

// Engine runs the rollout. Offer, Status and Boot are safe for concurrent use.
type Engine struct {
	o   Options
	log *slog.Logger
	st  *store

	wake chan struct{}

	mu     sync.Mutex // guards the fields below
	offers []Desired
	boot   Boot
	status Snapshot
}

// Snapshot is the engine's state for telemetry, birth messages and diagnostics.
type Snapshot struct {
	Committed Ref     `json:"committed"`
	Last      Ref     `json:"last"`
	Pending   *Ref    `json:"pending,omitempty"`
	Phase     string  `json:"phase,omitempty"`
	Report    *Report `json:"lastReport,omitempty"`
}

// Open loads the persisted state and decides what the agent boots with.
func Open(o Options) (*Engine, error) {
	if o.Dir == "" || o.Applier == nil {
		return nil, errors.New("rollout: Dir and Applier are required")
	}
	if o.Window <= 0 {
		o.Window = 2 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = time.Minute
	}
	if o.MaxBoots == 0 {
		o.MaxBoots = 1
	} else if o.MaxBoots < 0 {
		o.MaxBoots = 0
	}
	if o.Immutable == nil {
		o.Immutable = DefaultImmutable
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := openStore(o.Dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{o: o, log: o.Logger, st: st, wake: make(chan struct{}, 1)}
	if err := e.decideBoot(); err != nil {
		return nil, err
	}
	e.refresh()
	return e, nil
}

// decideBoot applies the restart rules of the package documentation.
func (e *Engine) decideBoot() error {
	s := &e.st.state
	e.boot = Boot{Doc: e.st.lkg, Ref: s.Committed}
	p := s.Pending
	if p == nil {
		return nil
	}
	switch p.Phase {
	case phaseStaged:
		// Never applied: the running configuration is last-known-good; Run starts over.
	case phaseApplying, phaseGating:
		p.Boots++
		if p.Boots > e.o.MaxBoots || e.st.pending == nil {
			why := fmt.Sprintf("the agent restarted %d times while version %d was being applied or gated", p.Boots, p.Version)
			if e.st.pending == nil {
				why = fmt.Sprintf("the staged document of version %d is missing or damaged", p.Version)
			}
			p.Phase, p.Reason = phaseRollingBack, why
		} else {
			e.boot = Boot{Doc: e.st.pending, Ref: p.Ref, Pending: true}
		}
		if err := e.st.save(); err != nil {
			return err
		}
	case phaseRollingBack:
	}
	return nil
}

// Boot returns the document the agent should build itself from.
func (e *Engine) Boot() Boot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.boot
}

// Status returns a snapshot of the engine's state.
func (e *Engine) Status() Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// refresh copies the store's state into the snapshot; called by the engine's goroutine.
func (e *Engine) refresh() {
	s := e.st.state
	snap := Snapshot{Committed: s.Committed, Last: s.Last, Report: s.LastReport}
	if s.Pending != nil {
		r := s.Pending.Ref
		snap.Pending, snap.Phase = &r, s.Pending.Phase
	}
	e.mu.Lock()
	e.status = snap
	e.mu.Unlock()
}

// Offer queues a document; Run processes documents in the order offered. It never
// blocks: while more than a few are waiting the oldest is dropped (a newer version
// supersedes it anyway).
func (e *Engine) Offer(d Desired) {
	e.mu.Lock()
	if len(e.offers) == maxOffers {
		e.log.Warn("remote configuration: too many documents waiting; dropping the oldest", "version", e.offers[0].Version)
		e.offers = e.offers[1:]
	}
	e.offers = append(e.offers, d)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) nextOffer() (Desired, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.offers) == 0 {
		return Desired{}, false
	}
	d := e.offers[0]
	e.offers = e.offers[1:]
	return d, true
}

// Run finishes what a previous run left pending, then processes offered documents until
// ctx ends. report is called for every step (from Run's goroutine; it must not block
// for long). An apply interrupted by ctx stays pending and is finished by the next
// Open and Run. Run returns nil when ctx ends, or an error when the state directory can
// no longer be written.
func (e *Engine) Run(ctx context.Context, report func(Report)) error {
	r := &run{e: e, report: report}
	r.fingerprint = r.effective(e.st.lkg)
	if err := r.resume(ctx); err != nil {
		return r.end(ctx, err)
	}
	for {
		for {
			d, ok := e.nextOffer()
			if !ok {
				break
			}
			if err := r.process(ctx, d, false); err != nil {
				return r.end(ctx, err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		}
	}
}

// Hash is the SHA-256 of b in lowercase hex, as used in Ref.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

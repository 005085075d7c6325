package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// run is the state of one Run call; only Run's goroutine touches it.
type run struct {
	e           *Engine
	report      func(Report)
	fingerprint string // effective configuration of last-known-good
}

func (r *run) end(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// effective fingerprints the effective configuration of doc, "" when it does not
// validate (then no push can be taken for a no-op).
func (r *run) effective(doc []byte) string {
	eff, err := r.e.o.Applier.Validate(doc)
	if err != nil {
		r.e.log.Warn("remote configuration: last-known-good does not validate against the current file", "err", err)
		return ""
	}
	return Hash(eff)
}

func (r *run) send(ref Ref, s Status, reason string, ps []Problem) error {
	st := &r.e.st.state
	rep := Report{Ref: ref, Status: s, Reason: reason, Problems: ps, Committed: st.Committed, Time: r.e.o.Now()}
	if s.Final() && s != StatusStale {
		st.LastReport = &rep
		if err := r.e.st.save(); err != nil {
			return err
		}
	}
	r.e.refresh()
	lvl := slog.LevelInfo
	if s == StatusRejected || s == StatusRolledBack || s == StatusStale {
		lvl = slog.LevelWarn
	} else if s == StatusRollbackFailed {
		lvl = slog.LevelError
	}
	r.e.log.Log(context.Background(), lvl, "remote configuration", "version", ref.Version, "status", string(s), "reason", reason, "problems", len(ps))
	if r.report != nil {
		r.report(rep)
	}
	return nil
}

// resume finishes the apply a previous run left pending.
func (r *run) resume(ctx context.Context) error {
	e := r.e
	p := e.st.state.Pending
	if p == nil {
		return nil
	}
	switch p.Phase {
	case phaseStaged:
		doc := e.st.pending
		e.st.state.Pending = nil
		if err := e.st.save(); err != nil {
			return err
		}
		if doc == nil {
			return nil
		}
		// Start over from validation: nothing was applied.
		return r.process(ctx, Desired{Version: p.Version, Doc: doc}, true)
	case phaseRollingBack:
		return r.rollback(ctx, p.Ref, p.Reason, false)
	default: // applying or gating: the agent booted on the pending document
		e.log.Info("remote configuration: re-gating after a restart", "version", p.Version, "boots", p.Boots)
		return r.applyAndGate(ctx, p.Ref, e.st.pending, "")
	}
}

// process takes one offered document through the whole flow. resumed skips the
// version check for a document staged by a previous run.
func (r *run) process(ctx context.Context, d Desired, resumed bool) error {
	e := r.e
	st := &e.st.state
	ref := Ref{Version: d.Version, SHA256: Hash(d.Doc)}
	switch {
	case resumed:
	case ref == st.Last:
		return nil // the same document again (a retained message after reconnect)
	case d.Version <= st.Last.Version:
		why := fmt.Sprintf("version %d is not newer than version %d, the last one processed", d.Version, st.Last.Version)
		if d.Version == st.Last.Version {
			why = fmt.Sprintf("version %d was already processed with different content; use a new version", d.Version)
		}
		return r.send(ref, StatusStale, why, nil)
	}
	st.Last = ref
	if err := e.st.save(); err != nil {
		return err
	}
	// Every problem at once: the screen's, then validation's (unless the document could
	// not be read at all).
	ps, readable := screen(d.Doc, e.o.Immutable)
	var eff []byte
	if readable {
		var err error
		if eff, err = e.o.Applier.Validate(d.Doc); err != nil {
			ps = appendNew(ps, problems(err), e.o.Immutable)
		}
	}
	if len(ps) > 0 {
		return r.send(ref, StatusRejected, summary(ps), ps)
	}
	fp := Hash(eff)
	if fp == r.fingerprint {
		if err := e.st.commit(ref, d.Doc); err != nil {
			return err
		}
		return r.send(ref, StatusUnchanged, "the effective configuration is the running one; nothing was applied", nil)
	}
	if err := e.st.stage(ref, d.Doc); err != nil {
		return err
	}
	return r.applyAndGate(ctx, ref, d.Doc, fp)
}

// applyAndGate applies a staged document, runs the health gate, then commits or rolls
// back. fp is the effective fingerprint of doc ("" to compute it on commit).
func (r *run) applyAndGate(ctx context.Context, ref Ref, doc []byte, fp string) error {
	e := r.e
	if err := e.st.setPhase(phaseApplying, ""); err != nil {
		return err
	}
	if err := r.send(ref, StatusApplying, "", nil); err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
	err := e.o.Applier.Apply(actx, doc)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: stays pending, finished at the next start
	}
	if err != nil {
		return r.rollback(ctx, ref, fmt.Sprintf("apply failed: %v", err), true)
	}
	if err := e.st.setPhase(phaseGating, ""); err != nil {
		return err
	}
	if err := r.send(ref, StatusGating, fmt.Sprintf("waiting up to %s for the health gate", e.o.Window), nil); err != nil {
		return err
	}
	if err := r.gate(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return r.rollback(ctx, ref, fmt.Sprintf("health gate failed for %s: %v", e.o.Window, err), true)
	}
	if fp == "" {
		fp = r.effective(doc)
	}
	if err := e.st.commit(ref, doc); err != nil {
		return err
	}
	r.fingerprint = fp
	return r.send(ref, StatusCommitted, "", nil)
}

// gate polls Health until it passes or the window ends; it returns the last failure.
func (r *run) gate(ctx context.Context) error {
	e := r.e
	gctx, cancel := context.WithTimeout(ctx, e.o.Window)
	defer cancel()
	t := time.NewTicker(e.o.Interval)
	defer t.Stop()
	var last error
	for {
		err := e.o.Applier.Health(gctx)
		if err == nil {
			return nil
		}
		if !errors.Is(err, context.DeadlineExceeded) || last == nil {
			last = err
		}
		select {
		case <-gctx.Done():
			if last == nil {
				last = gctx.Err()
			}
			return last
		case <-t.C:
		}
	}
}

// rollback applies last-known-good and reports why. persist is false when the rolling
// back phase is already recorded (resumed at start).
func (r *run) rollback(ctx context.Context, ref Ref, why string, persist bool) error {
	e := r.e
	if persist {
		if err := e.st.setPhase(phaseRollingBack, why); err != nil {
			return err
		}
	}
	actx, cancel := context.WithTimeout(ctx, e.o.ApplyTimeout)
	err := e.o.Applier.Apply(actx, e.st.lkg)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	status := StatusRolledBack
	if err != nil {
		status = StatusRollbackFailed
		why = fmt.Sprintf("%s; rolling back to version %d failed too: %v", why, e.st.state.Committed.Version, err)
	} else {
		why = fmt.Sprintf("%s; rolled back to version %d", why, e.st.state.Committed.Version)
	}
	if err := e.st.unstage(); err != nil {
		return err
	}
	return r.send(ref, status, why, nil)
}

// problems turns a validation error into problems: each of a *config.Error, or one.
func problems(err error) []Problem {
	var ce *config.Error
	if errors.As(err, &ce) {
		ps := make([]Problem, len(ce.Problems))
		for i, p := range ce.Problems {
			ps[i] = Problem{Path: p.Path, Reason: p.Reason}
		}
		return ps
	}
	return []Problem{{Reason: err.Error()}}
}

// appendNew appends validation's problems to the screen's, leaving out a second
// problem at an immutable path the screen already reported (the applier may check those
// paths on the decoded values too).
func appendNew(screened, validated []Problem, immutable []string) []Problem {
	flagged := map[string]bool{}
	for _, p := range screened {
		flagged[p.Path] = true
	}
	for _, p := range validated {
		if !flagged[p.Path] || !slices.Contains(immutable, p.Path) {
			screened = append(screened, p)
		}
	}
	return screened
}

func summary(ps []Problem) string {
	if len(ps) == 1 {
		if ps[0].Path == "" {
			return "invalid: " + ps[0].Reason
		}
		return "invalid: " + ps[0].Path + ": " + ps[0].Reason
	}
	return fmt.Sprintf("invalid: %d problems", len(ps))
}

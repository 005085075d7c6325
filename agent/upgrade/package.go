package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/mgmt"
)

// helperPickup bounds the wait for the root helper to take a request: the path unit
// starts it within a second when it is installed and enabled.
const helperPickup = time.Minute

// helperPoll is how often the hand-over files are looked at.
var helperPoll = 500 * time.Millisecond

// helperBound is how long a package upgrade may stay with the root helper: its copy
// and install, the restart, the health window, and a rollback with its restart.
func (u *Updater) helperBound() time.Duration { return 2*u.o.Config.HealthWindow.D() + 20*time.Minute }

// stagePackage downloads a verified package into the hand-over directory and hands it
// to the root helper. The agent does not restart: the helper does, after installing.
func (u *Updater) stagePackage(ctx context.Context, c release.Command, m release.Manifest, running string) (any, error) {
	dir := filepath.Join(u.o.StateDir, HandoverDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, refuse(CodeCannotStage, "%v", err)
	}
	clearHandover(u.o.StateDir)
	staged := handoverPath(u.o.StateDir, StagedFile)
	if err := download(ctx, u.client, c.URL, m, staged); err != nil {
		return nil, err
	}
	st := State{Phase: PhaseHelper, From: running, To: m.Version, Manifest: c.Manifest, Exe: u.o.Exe, Staged: staged}
	if err := saveState(u.o.StateDir, st); err != nil {
		os.Remove(staged)
		return nil, refuse(CodeCannotStage, "%v", err)
	}
	if err := handOver(u.o.StateDir, Request{Signed: c.Signed, From: running}); err != nil {
		u.finish(st, Result{To: m.Version, Outcome: OutcomeRefused, Code: CodeCannotStage, Reason: "hand-over: " + err.Error()})
		return nil, refuse(CodeCannotStage, "hand-over to the upgrade helper: %v", err)
	}
	u.log.Info("upgrade: package verified and handed to the upgrade helper", "from", running, "to", m.Version, "kind", m.Kind, "key", m.KeyID)
	u.o.Emit(KindStaged, true, CodeStaged, "", map[string]any{"from": running, "version": m.Version, "kind": m.Kind})
	u.mu.Lock()
	ctx = u.ctx
	u.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	return mgmt.ThenRun(map[string]any{"staged": true, "helper": true, "from": running, "version": m.Version,
		"healthWindowSeconds": u.o.Config.HealthWindow.D().Seconds()}, func() { go u.watchHelper(ctx, st) }), nil
}

// watchHelper waits for the root helper's outcome of st and reports it; a request the
// helper does not take in helperPickup, or no outcome in helperBound, fails the upgrade.
func (u *Updater) watchHelper(ctx context.Context, st State) {
	u.mu.Lock()
	if u.watching {
		u.mu.Unlock()
		return
	}
	u.watching = true
	u.mu.Unlock()
	defer func() { u.mu.Lock(); u.watching = false; u.mu.Unlock() }()
	start := time.Now()
	bound := start.Add(u.helperBound())
	if !st.At.IsZero() && st.At.Add(u.helperBound()).Before(bound) {
		bound = st.At.Add(u.helperBound())
	}
	tick := time.NewTicker(helperPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r, ok, err := readResult(u.o.StateDir, st.To)
		switch {
		case err != nil:
			u.finish(st, Result{To: st.To, Outcome: OutcomeRefused, Reason: err.Error()})
			return
		case ok:
			u.finish(st, r)
			return
		}
		_, err = os.Stat(handoverPath(u.o.StateDir, RequestFile))
		if err == nil && time.Since(start) > helperPickup {
			u.finish(st, Result{To: st.To, Outcome: OutcomeRefused, Code: CodeCannotStage, Reason: fmt.Sprintf(
				"the upgrade helper did not take the request within %s (are sscagent-upgrade.path and sscagent-upgrade.service installed and enabled?)", helperPickup)})
			return
		}
		if time.Now().After(bound) {
			u.finish(st, Result{To: st.To, Outcome: OutcomeRefused, Reason: fmt.Sprintf("no outcome from the upgrade helper within %s", u.helperBound())})
			return
		}
	}
}

// finish records the helper's outcome r of st and reports it.
func (u *Updater) finish(st State, r Result) {
	clearHandover(u.o.StateDir)
	st.Phase, st.Reason, st.Code = PhaseFailed, r.Reason, r.Code
	if r.Outcome == OutcomeDone {
		st.Phase, st.Reason, st.Code = PhaseDone, "", 0
	}
	if r.Outcome == OutcomeRefused && st.Code == 0 {
		st.Code = CodeCannotStage
	}
	if err := saveState(u.o.StateDir, st); err != nil {
		u.log.Error("upgrade: state not saved", "err", err)
	}
	u.report(st)
}

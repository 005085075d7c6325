// Package upgrade is software updates from the fleet, on the terminal: the "upgrade"
// management command downloads a build over HTTPS, checks it against its release
// manifest (size, SHA-256, SM3, platform) and the manifest's signature against the
// release keys the configuration file pins, and stages it beside the executable. The
// restart that follows does not start the new build blindly: the old process runs it
// as a trial child and waits, up to upgrade.healthWindow, for it to report healthy
// (every part up, terminal management connected). Only then are the binaries swapped
// (the old one kept as .prev) and the new build started in the old one's place; a
// trial child that exits, hangs or reports another version is killed and discarded,
// and the old build starts again. The decision is the old process's, so a build that
// dies at once or never gets healthy cannot keep the terminal down. The new build
// confirms once more after the swap; a start that finds an unconfirmed swap puts the
// old build back. Every step is persisted in STATEDIR/upgrade/state.json first, so a
// crash at any point is recovered at the next start (docs/deploy.md).
//
// A terminal installed from a .deb or .rpm is sent the package instead: the agent
// verifies and downloads it the same way and hands it to the root helper (handover.go,
// agent/upgrade/helper), which installs it, restarts the service, waits for this
// package's health file and reinstalls the previous package when it does not come.
package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/mgmt"
)

// CmdName is the management command's name.
const CmdName = "upgrade"

// Event kinds.
const (
	KindStaged    = "upgrade.staged"
	KindRefused   = "upgrade.refused"
	KindSucceeded = "upgrade.succeeded"
	KindFailed    = "upgrade.failed"
)

// Emitter publishes an upgrade event (the agent's bus, with the prompts of code);
// cause goes to the log only, data is already masked.
type Emitter func(kind string, ok bool, code prompt.Code, cause string, data map[string]any)

// Options configure an Updater.
type Options struct {
	Config   Config
	StateDir string
	// Exe is the executable that upgrades replace (the running one, its symbolic links
	// resolved). Empty: the upgrade command is refused (so is it without Restart).
	Exe string
	// Restart restarts the agent process through its usual path (which runs the
	// trial, Continue). It must not block.
	Restart func(reason string)
	Emit    Emitter
	Logger  *slog.Logger
}

// Updater is the terminal's side of software updates.
type Updater struct {
	o      Options
	keys   signing.Keyring
	client *http.Client
	trial  string // the handshake file of a trial child, "" otherwise
	// install is how the executable was installed (InstallKind): the artifact kind
	// this terminal takes.
	install string
	log     *slog.Logger

	mu       sync.Mutex // guards busy, healthy, pending, ctx, watching
	busy     bool
	healthy  bool
	pending  *State          // a final outcome not yet reported, the confirming upgrade, or the helper's
	ctx      context.Context // Started's: bounds the watch of the helper
	watching bool
}

// New reads the pinned keys and the persisted state. Call Recover first.
func New(o Options) (*Updater, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Emit == nil {
		o.Emit = func(string, bool, prompt.Code, string, map[string]any) {}
	}
	keys, err := o.Config.Keyring()
	if err != nil {
		return nil, err
	}
	c, err := newClient(o.Config.CAFile)
	if err != nil {
		return nil, err
	}
	u := &Updater{o: o, keys: keys, client: c, trial: os.Getenv(trialEnv), install: InstallKind(o.Exe), log: o.Logger}
	if u.trial != "" {
		return u, nil // the state belongs to the old process running this trial
	}
	st, ok, err := LoadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	if ok && (st.Phase == PhaseConfirming || st.Phase == PhaseHelper || st.Final() && !st.Reported) {
		u.pending = &st
	}
	return u, nil
}

// Install says how this terminal's executable was installed (release.KindBinary,
// KindDeb, KindRPM): what its birth announces, and the artifact kind it takes.
func (u *Updater) Install() string { return u.install }

// InTrial reports whether this process is a trial child.
func (u *Updater) InTrial() bool { return u.trial != "" }

// Run implements mgmt.Command: verify, download, stage, then restart into the trial.
func (u *Updater) Run(ctx context.Context, args json.RawMessage) (any, error) {
	v, err := u.stage(ctx, args)
	if err != nil {
		data := map[string]any{"reason": err.Error()}
		u.o.Emit(KindRefused, false, CodeOf(err), err.Error(), data)
		return nil, err
	}
	return v, nil
}

func (u *Updater) stage(ctx context.Context, args json.RawMessage) (any, error) {
	switch {
	case u.trial != "":
		return nil, refuse(CodeBusy, "this process is the trial run of a new build")
	case len(u.keys) == 0:
		return nil, refuse(CodeOff, "upgrade.releaseKeys is empty")
	case u.o.Exe == "" || u.o.Restart == nil:
		return nil, refuse(CodeCannotStage, "this agent has no executable to replace or no way to restart")
	}
	var c release.Command
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, refuse(CodeCannotStage, `args: want {"url": "https://...", "manifest": BASE64, "signature": BASE64}: %v`, err)
	}
	m, err := release.Verify(u.keys, c.Signed)
	if err != nil {
		return nil, &Refusal{Code: CodeBadSignature, Err: err}
	}
	if m.Kind != u.install {
		return nil, refuse(CodeWrongPlatform, "the artifact is a %s; this terminal was installed as a %s and takes a %s", m.Kind, u.install, u.install)
	}
	if m.GOOS != runtime.GOOS || m.GOARCH != runtime.GOARCH {
		return nil, refuse(CodeWrongPlatform, "the artifact is for %s, this terminal is %s/%s", m.Platform(), runtime.GOOS, runtime.GOARCH)
	}
	running := version.Get().Version
	if m.Version == running {
		return map[string]any{"version": running, "already": true}, nil
	}
	if m.Size > u.o.Config.MaxBytes {
		return nil, refuse(CodeCannotStage, "the artifact is %d bytes, upgrade.maxBytes is %d", m.Size, u.o.Config.MaxBytes)
	}
	u.mu.Lock()
	if u.busy {
		u.mu.Unlock()
		return nil, refuse(CodeBusy, "an upgrade command is running")
	}
	u.busy = true
	u.mu.Unlock()
	defer func() { u.mu.Lock(); u.busy = false; u.mu.Unlock() }()
	if st, ok, err := LoadState(u.o.StateDir); err != nil {
		return nil, refuse(CodeBusy, "%v", err)
	} else if ok && !st.Final() {
		return nil, refuse(CodeBusy, "the upgrade to %s is %s", st.To, st.Phase)
	}
	ctx, cancel := context.WithTimeout(ctx, u.o.Config.DownloadTimeout.D())
	defer cancel()
	if release.IsPackage(m.Kind) {
		return u.stagePackage(ctx, c, m, running)
	}
	staged := stagedPath(u.o.Exe)
	if err := download(ctx, u.client, c.URL, m, staged); err != nil {
		return nil, err
	}
	st := State{Phase: PhaseStaged, From: running, To: m.Version, Manifest: c.Manifest, Exe: u.o.Exe, Staged: staged, Prev: PrevPath(u.o.Exe)}
	if err := saveState(u.o.StateDir, st); err != nil {
		os.Remove(staged)
		return nil, refuse(CodeCannotStage, "%v", err)
	}
	u.log.Info("upgrade: artifact verified and staged; restarting into the trial", "from", running, "to", m.Version, "key", m.KeyID)
	u.o.Emit(KindStaged, true, CodeStaged, "", map[string]any{"from": running, "version": m.Version})
	res := map[string]any{"staged": true, "from": running, "version": m.Version, "healthWindowSeconds": u.o.Config.HealthWindow.D().Seconds()}
	return mgmt.ThenRun(res, func() { u.o.Restart("upgrade to " + m.Version) }), nil
}

// Started is called once the agent runs: it reports an outcome the last processes
// left (once), and bounds a confirming upgrade by the health window: a new build
// that does not report healthy in time is rolled back. An upgrade in the root
// helper's hands is watched until the helper writes its outcome.
func (u *Updater) Started(ctx context.Context) {
	u.mu.Lock()
	st := u.pending
	u.ctx = ctx
	u.mu.Unlock()
	if st == nil {
		return
	}
	if st.Final() {
		u.report(*st)
		return
	}
	if st.Phase == PhaseHelper {
		go u.watchHelper(ctx, *st) // ends with ctx or the helper's outcome
		return
	}
	go func() { // ends with ctx or the window
		t := time.NewTimer(u.o.Config.HealthWindow.D())
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			u.mu.Lock()
			ok := u.healthy
			u.mu.Unlock()
			if !ok {
				u.rollback(*st, fmt.Sprintf("the new build did not report healthy within %s after the swap", u.o.Config.HealthWindow))
			}
		}
	}()
}

// Healthy is called when every part is up and terminal management is connected: a
// trial child reports it to the old process, a confirming build commits the upgrade.
func (u *Updater) Healthy() {
	u.mu.Lock()
	if u.healthy {
		u.mu.Unlock()
		return
	}
	u.healthy = true
	st := u.pending
	u.mu.Unlock()
	if u.trial != "" {
		if err := writeHandshake(u.trial); err != nil {
			u.log.Error("upgrade trial: cannot report healthy", "err", err)
		}
		return
	}
	if st != nil && st.Phase == PhaseHelper {
		if err := writeHealth(u.o.StateDir); err != nil {
			u.log.Error("upgrade: cannot report healthy to the upgrade helper", "err", err)
		}
		return
	}
	if st == nil || st.Phase != PhaseConfirming {
		return
	}
	st.Phase = PhaseDone
	if err := saveState(u.o.StateDir, *st); err != nil {
		u.log.Error("upgrade: cannot commit", "err", err)
		return
	}
	u.report(*st)
}

// rollback puts the old build back after the swap and restarts into it.
func (u *Updater) rollback(st State, reason string) {
	u.log.Error("upgrade: rolling back", "to", st.From, "reason", reason)
	if err := restore(st.Exe, st.Prev); err != nil {
		u.log.Error("upgrade: rollback failed; the new build stays", "err", err)
		return
	}
	st.Phase, st.Reason = PhaseFailed, reason
	if err := saveState(u.o.StateDir, st); err != nil {
		u.log.Error("upgrade: state not saved", "err", err)
	}
	u.o.Restart("upgrade rolled back: " + reason)
}

// report publishes a final outcome and marks it reported.
func (u *Updater) report(st State) {
	data := map[string]any{"from": st.From, "version": st.To}
	if st.Phase == PhaseDone {
		u.log.Info("upgrade: succeeded", "from", st.From, "to", st.To)
		u.o.Emit(KindSucceeded, true, CodeSucceeded, "", data)
	} else {
		data["reason"] = st.Reason
		code := CodeRolledBack
		if st.Code != 0 {
			code = st.Code
		}
		u.o.Emit(KindFailed, false, code, st.Reason, data)
	}
	st.Reported = true
	if err := saveState(u.o.StateDir, st); err != nil {
		u.log.Warn("upgrade: state not saved", "err", err)
	}
	u.mu.Lock()
	u.pending = nil
	u.mu.Unlock()
}

// Executable returns the running executable's path with symbolic links resolved,
// taken once at start: after a swap, the kernel's name for the running image is the
// old build's.
func Executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	if _, err := os.Stat(exe); err != nil {
		return "", errors.New("upgrade: the executable's path does not name a file")
	}
	return exe, nil
}

package upgrade

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/atomicfile"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/version"
)

// trialEnv names the handshake file in a trial child's environment.
const trialEnv = "SSCAGENT_UPGRADE_TRIAL"

// InTrialEnv reports whether this process was started as a trial child.
func InTrialEnv() bool { return os.Getenv(trialEnv) != "" }

func writeHandshake(path string) error {
	return atomicfile.Write(path, []byte("healthy "+version.Get().Version+"\n"), 0o600)
}

// Recover finishes or undoes what an upgrade left at the last stop; every process that
// is not a trial child calls it at start, before the agent opens its stores. A staged
// build or an interrupted trial is discarded (the old build never stopped being the
// executable); an interrupted swap is completed when the new build is in place and
// discarded otherwise; the first start of a swapped build begins its confirmation; a
// start that finds a confirmation still open (the new build stopped before reporting
// healthy) puts the old build back and returns restart: the caller starts the
// executable again. Outcomes are reported by the Updater once the agent runs.
func Recover(stateDir string, log *slog.Logger) (restart bool, err error) {
	st, ok, err := LoadState(stateDir)
	if err != nil || !ok || st.Final() {
		return false, err
	}
	m, perr := release.Parse(st.Manifest)
	fail := func(reason string) error {
		log.Error("upgrade: failed", "to", st.To, "reason", reason)
		st.Phase, st.Reason = PhaseFailed, reason
		return saveState(stateDir, st)
	}
	switch st.Phase {
	case PhaseStaged, PhaseTrial:
		os.Remove(st.Staged)
		return false, fail(fmt.Sprintf("the process stopped %s; the old build stays", map[string]string{
			PhaseStaged: "before the trial", PhaseTrial: "during the trial"}[st.Phase]))
	case PhaseSwapping:
		if perr != nil || !matches(st.Exe, m) {
			os.Remove(st.Staged)
			return false, fail("the process stopped during the swap, before it; the old build stays")
		}
		st.Phase = PhaseSwapped
		fallthrough
	case PhaseSwapped:
		if v := version.Get().Version; v != st.To {
			return false, fail(fmt.Sprintf("version %s started after the swap, not %s", v, st.To))
		}
		st.Phase = PhaseConfirming
		return false, saveState(stateDir, st)
	case PhaseHelper:
		return false, nil // the root helper's: the Updater watches for its outcome
	case PhaseConfirming:
		reason := "the new build stopped before reporting healthy after the swap"
		if err := restore(st.Exe, st.Prev); err != nil {
			return false, fail(reason + "; " + err.Error())
		}
		return true, fail(reason + "; the old build was put back")
	}
	return false, fail("unknown phase " + st.Phase)
}

// TrialOptions configure Continue.
type TrialOptions struct {
	StateDir string
	// Args are the run command's arguments for the trial child (without --service).
	Args []string
	// Window bounds the wait for the trial child's handshake (upgrade.healthWindow).
	Window time.Duration
	// StopTimeout bounds the trial child's stop once it passed (agent.shutdownTimeout).
	StopTimeout time.Duration
	// Ping, when set, is called every second of the trial (the service manager's
	// watchdog: this process is the one it watches).
	Ping func()
	Log  *slog.Logger
}

// Continue is the restart path's upgrade step, called after the agent has stopped
// and before the executable starts again. With a staged build it runs the trial: the
// new build starts as a child of this process and must report healthy within the
// window; then the binaries are swapped. A child that exits, hangs or reports another
// version is killed and its build discarded. Continue reports whether a staged
// upgrade was there; either way the caller then starts the executable, which is the
// new build or still the old one.
func Continue(o TrialOptions) bool {
	st, ok, err := LoadState(o.StateDir)
	if err != nil {
		o.Log.Error("upgrade: state unreadable; restarting without an upgrade", "err", err)
		return false
	}
	if !ok || st.Phase != PhaseStaged {
		return false
	}
	st.Phase = PhaseTrial
	if err := saveState(o.StateDir, st); err != nil {
		o.Log.Error("upgrade: state not saved; no trial", "err", err)
		os.Remove(st.Staged)
		return true
	}
	o.Log.Info("upgrade: trial of the new build", "from", st.From, "to", st.To, "window", o.Window)
	if err := trial(o, st); err != nil {
		o.Log.Error("upgrade: trial failed; the old build starts again", "to", st.To, "err", err)
		os.Remove(st.Staged)
		st.Phase, st.Reason = PhaseFailed, "trial: "+err.Error()
		if err := saveState(o.StateDir, st); err != nil {
			o.Log.Error("upgrade: state not saved", "err", err)
		}
		return true
	}
	st.Phase = PhaseSwapping
	if err := saveState(o.StateDir, st); err == nil {
		err = swap(st.Exe, st.Staged, st.Prev)
		if err == nil {
			st.Phase = PhaseSwapped
			err = saveState(o.StateDir, st)
		}
		if err == nil {
			o.Log.Info("upgrade: trial passed; the new build is in place", "to", st.To, "prev", st.Prev)
			return true
		}
		o.Log.Error("upgrade: swap failed", "err", err)
		st.Reason = "swap: " + err.Error()
	} else {
		st.Reason = "state: " + err.Error()
	}
	if !matches(st.Exe, mustParse(st.Manifest)) {
		os.Remove(st.Staged)
		st.Phase = PhaseFailed
		_ = saveState(o.StateDir, st)
	}
	return true
}

func mustParse(b []byte) release.Manifest {
	m, _ := release.Parse(b)
	return m
}

// trial runs the staged build as a child until it reports healthy (nil), or exits,
// or the window ends (an error saying which).
func trial(o TrialOptions, st State) error {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	hs := filepath.Join(o.StateDir, "upgrade", "handshake-"+hex.EncodeToString(nonce[:]))
	defer os.Remove(hs)
	cmd := exec.Command(st.Staged, o.Args...)
	cmd.Env = append(trialEnviron(os.Environ()), trialEnv+"="+hs)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	setTrialAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start the new build: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // ends with the child, which trial always ends
	deadline := time.NewTimer(o.Window)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	var lastPing time.Time
	for {
		select {
		case err := <-exited:
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("the new build exited before reporting healthy (%v)", err)
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("the new build did not report healthy within %s", o.Window)
		case <-poll.C:
			if o.Ping != nil && time.Since(lastPing) >= time.Second {
				o.Ping()
				lastPing = time.Now()
			}
			b, err := os.ReadFile(hs)
			if err != nil {
				continue
			}
			got := strings.TrimSpace(strings.TrimPrefix(string(b), "healthy "))
			stopChild(cmd, exited, o.StopTimeout, o.Log)
			if got != st.To {
				return fmt.Errorf("the new build reports version %q, its manifest %q", got, st.To)
			}
			return nil
		}
	}
}

// stopChild asks the trial child to stop (SIGTERM; Windows: kill) and kills it after
// timeout.
func stopChild(cmd *exec.Cmd, exited <-chan error, timeout time.Duration, log *slog.Logger) {
	if runtime.GOOS == "windows" || cmd.Process.Signal(os.Interrupt) != nil {
		_ = cmd.Process.Kill()
	}
	t := time.NewTimer(timeout + 5*time.Second)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		log.Warn("upgrade: the trial child did not stop in time; killed")
		_ = cmd.Process.Kill()
		<-exited
	}
}

// trialEnviron is env without what belongs to this process alone: the service
// manager's notification socket and watchdog (the child's messages would be refused,
// or worse taken for this process's), and any trial of our own.
func trialEnviron(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", trialEnv:
			continue
		}
		out = append(out, e)
	}
	return out
}

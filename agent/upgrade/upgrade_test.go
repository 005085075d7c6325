package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/release"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/internal/version"
)

// TestMain plays a trial child when Continue starts this test binary as the staged
// build: UPGRADE_TEST_ROLE says how it behaves.
func TestMain(m *testing.M) {
	if InTrialEnv() {
		switch os.Getenv("UPGRADE_TEST_ROLE") {
		case "healthy":
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
			if err := writeHandshake(os.Getenv(trialEnv)); err != nil {
				os.Exit(9)
			}
			<-sigs
			os.Exit(0)
		case "exit":
			os.Exit(70)
		case "hang":
			time.Sleep(time.Hour)
		}
		os.Exit(8)
	}
	os.Exit(m.Run())
}

var discard = slog.New(slog.DiscardHandler)

// layout is an executable and its state directory in a temporary directory.
type layout struct {
	dir, exe, state string
	old             []byte
}

func newLayout(t *testing.T) layout {
	t.Helper()
	d := t.TempDir()
	l := layout{dir: d, exe: filepath.Join(d, "bin", "sscagent"), state: filepath.Join(d, "state"), old: []byte("old build\n")}
	os.MkdirAll(filepath.Dir(l.exe), 0o755)
	if err := os.WriteFile(l.exe, l.old, 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

// stage writes body as the staged build and a state in phase with its manifest.
func (l layout) stage(t *testing.T, phase, to string, body []byte) State {
	t.Helper()
	m, _ := release.Describe(bytes.NewReader(body), to, runtime.GOOS, runtime.GOARCH)
	m.KeyID = strings.Repeat("0", 16)
	if err := os.WriteFile(stagedPath(l.exe), body, 0o755); err != nil {
		t.Fatal(err)
	}
	st := State{Phase: phase, From: "v-old", To: to, Manifest: m.Marshal(), Exe: l.exe, Staged: stagedPath(l.exe), Prev: PrevPath(l.exe)}
	if err := saveState(l.state, st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (l layout) phase(t *testing.T) State {
	t.Helper()
	st, ok, err := LoadState(l.state)
	if !ok || err != nil {
		t.Fatalf("state: %v %v", ok, err)
	}
	return st
}

func mustBe(t *testing.T, path string, want []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("%s = %q, %v; want %q", path, b, err, want)
	}
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists (%v)", path, err)
	}
}

// Recover, one test per phase a crash can leave.
func TestRecover(t *testing.T) {
	running := version.Get().Version
	newBuild := []byte("new build\n")
	for _, c := range []struct {
		phase, to string
		prepare   func(l layout)
		restart   bool
		want      string // phase after
		exe       []byte // nil: the old build
		reason    string
	}{
		{phase: PhaseStaged, to: "v2", want: PhaseFailed, reason: "before the trial"},
		{phase: PhaseTrial, to: "v2", want: PhaseFailed, reason: "during the trial"},
		{phase: PhaseSwapping, to: "v2", want: PhaseFailed, reason: "during the swap"},
		{phase: PhaseSwapping, to: running, want: PhaseConfirming, exe: newBuild, prepare: func(l layout) {
			if err := swap(l.exe, stagedPath(l.exe), PrevPath(l.exe)); err != nil {
				panic(err)
			}
		}},
		{phase: PhaseSwapped, to: "v-other", want: PhaseFailed, reason: "started after the swap, not v-other", exe: newBuild, prepare: func(l layout) {
			swap(l.exe, stagedPath(l.exe), PrevPath(l.exe))
		}},
		{phase: PhaseConfirming, to: running, want: PhaseFailed, restart: true, reason: "the old build was put back", prepare: func(l layout) {
			swap(l.exe, stagedPath(l.exe), PrevPath(l.exe))
		}},
	} {
		t.Run(c.phase+"-"+c.to, func(t *testing.T) {
			l := newLayout(t)
			l.stage(t, c.phase, c.to, newBuild)
			if c.prepare != nil {
				c.prepare(l)
			}
			restart, err := Recover(l.state, discard)
			if err != nil || restart != c.restart {
				t.Fatalf("Recover = %v, %v", restart, err)
			}
			st := l.phase(t)
			if st.Phase != c.want || !strings.Contains(st.Reason, c.reason) || st.Reported {
				t.Fatalf("state %+v, want %s with %q", st, c.want, c.reason)
			}
			want := c.exe
			if want == nil {
				want = l.old
			}
			mustBe(t, l.exe, want)
			mustNotExist(t, stagedPath(l.exe))
			// A second start changes nothing more; but a second start of a new build
			// that did not confirm is a rollback.
			again, err := Recover(l.state, discard)
			if err != nil || again != (c.want == PhaseConfirming) {
				t.Fatalf("second Recover = %v, %v", again, err)
			}
			if again {
				mustBe(t, l.exe, l.old)
				if st := l.phase(t); st.Phase != PhaseFailed {
					t.Fatalf("after the second start: %+v", st)
				}
			}
		})
	}
	// Nothing persisted, or over: nothing to do. A damaged file is an error.
	l := newLayout(t)
	if restart, err := Recover(l.state, discard); restart || err != nil {
		t.Fatalf("no state: %v %v", restart, err)
	}
	os.MkdirAll(filepath.Join(l.state, "upgrade"), 0o700)
	os.WriteFile(statePath(l.state), []byte("{"), 0o600)
	if _, err := Recover(l.state, discard); err == nil {
		t.Fatal("damaged state accepted")
	}
}

func TestSwapAndRestore(t *testing.T) {
	l := newLayout(t)
	os.WriteFile(stagedPath(l.exe), []byte("new"), 0o755)
	if err := swap(l.exe, stagedPath(l.exe), PrevPath(l.exe)); err != nil {
		t.Fatal(err)
	}
	mustBe(t, l.exe, []byte("new"))
	mustBe(t, PrevPath(l.exe), l.old)
	mustNotExist(t, stagedPath(l.exe))
	if err := restore(l.exe, PrevPath(l.exe)); err != nil {
		t.Fatal(err)
	}
	mustBe(t, l.exe, l.old)
	mustNotExist(t, PrevPath(l.exe))
}

// Continue with this test binary as the staged build playing each role.
func TestContinueTrial(t *testing.T) {
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	running := version.Get().Version
	for _, c := range []struct {
		role, to string
		swapped  bool
		reason   string
	}{
		{"healthy", running, true, ""},
		{"healthy", "v-not-this", false, `reports version "` + running + `", its manifest "v-not-this"`},
		{"exit", running, false, "exited before reporting healthy (exit status 70)"},
		{"hang", running, false, "did not report healthy within 1s"},
	} {
		t.Run(c.role+"-"+c.to, func(t *testing.T) {
			l := newLayout(t)
			l.stage(t, PhaseStaged, c.to, self)
			t.Setenv("UPGRADE_TEST_ROLE", c.role)
			pings := 0
			var mu sync.Mutex
			if !Continue(TrialOptions{StateDir: l.state, Args: []string{"-test.run=^$"}, Window: time.Second, StopTimeout: time.Second,
				Ping: func() { mu.Lock(); pings++; mu.Unlock() }, Log: discard}) {
				t.Fatal("Continue found no staged upgrade")
			}
			st := l.phase(t)
			mustNotExist(t, stagedPath(l.exe))
			if c.swapped {
				if st.Phase != PhaseSwapped {
					t.Fatalf("state %+v", st)
				}
				mustBe(t, l.exe, self)
				mustBe(t, PrevPath(l.exe), l.old)
				return
			}
			if st.Phase != PhaseFailed || !strings.Contains(st.Reason, c.reason) {
				t.Fatalf("state %+v, want failed: %q", st, c.reason)
			}
			mustBe(t, l.exe, l.old)
			mustNotExist(t, PrevPath(l.exe))
			if c.role == "hang" && pings == 0 {
				t.Fatal("no watchdog ping during a 1s trial")
			}
		})
	}
	// No staged upgrade: nothing.
	l := newLayout(t)
	if Continue(TrialOptions{StateDir: l.state, Log: discard}) {
		t.Fatal("Continue without a staged upgrade")
	}
}

type emitted struct {
	mu   sync.Mutex
	list []string
}

func (e *emitted) emit(kind string, ok bool, code prompt.Code, cause string, data map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, fmt.Sprintf("%s %v %s %v", kind, ok, code, data["reason"]))
}

func (e *emitted) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

func newTestUpdater(t *testing.T, l layout, keys ...*signing.PublicKey) (*Updater, *emitted) {
	t.Helper()
	cfg := DefaultConfig()
	for i, k := range keys {
		p := filepath.Join(l.dir, fmt.Sprintf("release%d.pub.pem", i))
		b, _ := k.MarshalPEM()
		os.WriteFile(p, b, 0o644)
		cfg.ReleaseKeys = append(cfg.ReleaseKeys, p)
	}
	e := &emitted{}
	u, err := New(Options{Config: cfg, StateDir: l.state, Exe: l.exe, Restart: func(string) {}, Emit: e.emit, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	return u, e
}

// The command's refusals that need no download.
func TestRunRefuses(t *testing.T) {
	l := newLayout(t)
	key, _ := signing.Generate(signing.Ed25519)
	body := []byte("a build")
	m, _ := release.Describe(bytes.NewReader(body), "v2", runtime.GOOS, runtime.GOARCH)
	s, _ := release.Sign(key, m)
	args := func(url string, s release.Signed) json.RawMessage {
		b, _ := json.Marshal(release.Command{URL: url, Signed: s})
		return b
	}
	off, _ := newTestUpdater(t, l)
	if _, err := off.Run(t.Context(), args("https://x/y", s)); CodeOf(err) != CodeOff {
		t.Fatalf("no keys: %v", err)
	}
	u, e := newTestUpdater(t, l, key.Public())
	same := m
	same.Version = version.Get().Version
	sameSigned, _ := release.Sign(key, same)
	if v, err := u.Run(t.Context(), args("https://x/y", sameSigned)); err != nil || !strings.Contains(fmt.Sprint(v), "already:true") {
		t.Fatalf("same version: %v %v", v, err)
	}
	for _, c := range []struct {
		args json.RawMessage
		code prompt.Code
		want string
	}{
		{json.RawMessage(`{"url":1}`), CodeCannotStage, "args: want"},
		{json.RawMessage(`{"url":"https://x","manifest":"","signature":"","extra":1}`), CodeCannotStage, "unknown field"},
		{args("https://x/y", release.Signed{Manifest: s.Manifest, Signature: s.Signature[:10]}), CodeBadSignature, "does not verify"},
		{args("http://127.0.0.1:1/y", s), CodeCannotStage, "want https://"},
		{args("https://127.0.0.1:1/y", s), CodeDownload, "connect"},
	} {
		_, err := u.Run(t.Context(), c.args)
		var r *Refusal
		if !errors.As(err, &r) || r.Code != c.code || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.code.String()) {
			t.Errorf("%s: %v, want %s %q", c.args, err, c.code, c.want)
		}
		mustNotExist(t, stagedPath(l.exe))
	}
	if n := len(e.all()); n != 5 {
		t.Fatalf("%d refusal events: %v", n, e.all())
	}
	mustBe(t, l.exe, l.old)
	if _, ok, _ := LoadState(l.state); ok {
		t.Fatal("a refusal persisted state")
	}
}

// A confirming upgrade commits on Healthy and reports once; an outcome left by the
// last process is reported at Started, once.
func TestConfirmAndReport(t *testing.T) {
	l := newLayout(t)
	l.stage(t, PhaseConfirming, version.Get().Version, []byte("new"))
	u, e := newTestUpdater(t, l)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	u.Started(ctx)
	u.Healthy()
	u.Healthy()
	if st := l.phase(t); st.Phase != PhaseDone || !st.Reported {
		t.Fatalf("state %+v", st)
	}
	if got := e.all(); len(got) != 1 || !strings.HasPrefix(got[0], KindSucceeded+" true [160002]") {
		t.Fatalf("events %v", got)
	}
	// A new process finds it reported: nothing again.
	u2, e2 := newTestUpdater(t, l)
	u2.Started(ctx)
	if len(e2.all()) != 0 {
		t.Fatalf("reported twice: %v", e2.all())
	}

	l = newLayout(t)
	st := l.stage(t, PhaseFailed, "v2", nil)
	st.Reason = "trial: the new build exited"
	saveState(l.state, st)
	u, e = newTestUpdater(t, l)
	u.Started(ctx)
	if got := e.all(); len(got) != 1 || got[0] != KindFailed+" false [160003] trial: the new build exited" {
		t.Fatalf("events %v", got)
	}
}

// A swapped build that does not report healthy within the window puts the old one
// back itself and restarts.
func TestConfirmWindowRollsBack(t *testing.T) {
	l := newLayout(t)
	l.stage(t, PhaseSwapped, version.Get().Version, []byte("new"))
	if err := swap(l.exe, stagedPath(l.exe), PrevPath(l.exe)); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover(l.state, discard); err != nil {
		t.Fatal(err)
	}
	restarted := make(chan string, 1)
	cfg := DefaultConfig()
	cfg.HealthWindow = config.Duration(50 * time.Millisecond)
	u, err := New(Options{Config: cfg, StateDir: l.state, Exe: l.exe, Restart: func(r string) { restarted <- r }, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	u.Started(t.Context())
	select {
	case r := <-restarted:
		if !strings.Contains(r, "did not report healthy") {
			t.Fatalf("restart reason %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no rollback")
	}
	mustBe(t, l.exe, l.old)
	if st := l.phase(t); st.Phase != PhaseFailed || st.Reported {
		t.Fatalf("state %+v", st)
	}
}

// FuzzRunArgs: whatever the arguments, nothing is staged without a signature of the
// pinned key, and every refusal has a code.
func FuzzRunArgs(f *testing.F) {
	f.Add([]byte(`{"url":"https://127.0.0.1:1/x","manifest":"e30=","signature":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	key, _ := signing.Generate(signing.Ed25519)
	f.Fuzz(func(t *testing.T, args []byte) {
		l := newLayout(t)
		u, _ := newTestUpdater(t, l, key.Public())
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		v, err := u.Run(ctx, args)
		if err == nil {
			t.Fatalf("accepted %q: %v", args, v)
		}
		var r *Refusal
		if !errors.As(err, &r) {
			t.Fatalf("refusal without a code: %v", err)
		}
		mustNotExist(t, stagedPath(l.exe))
	})
}

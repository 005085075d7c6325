package rollout_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// rig is one terminal's rollout with a real configuration file and a real platform
// endpoint (an HTTP server) for the health gate.
type rig struct {
	t        *testing.T
	dir      string
	platform *httptest.Server
	app      *mgmttest.Applier
	reports  chan rollout.Report
}

func newRig(t *testing.T) *rig {
	t.Helper()
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(platform.Close)
	dir := t.TempDir()
	app, err := mgmttest.NewApplier(dir, mgmttest.BaseConfig("T-0001", platform.URL, filepath.Join(dir, "state")))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dir: filepath.Join(dir, "state", "rollout"), platform: platform, app: app, reports: make(chan rollout.Report, 64)}
}

func (r *rig) open() *rollout.Engine {
	r.t.Helper()
	e, err := rollout.Open(rollout.Options{Dir: r.dir, Applier: r.app, Window: 800 * time.Millisecond, Interval: 20 * time.Millisecond})
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// start runs e until the returned stop is called (or the test ends).
func (r *rig) start(e *rollout.Engine) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(rep rollout.Report) { r.reports <- rep }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("Run: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	return stop
}

// final waits for the next final report of version v, skipping progress.
func (r *rig) final(v uint64) rollout.Report {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rep := <-r.reports:
			if rep.Version == v && rep.Status.Final() {
				return rep
			}
		case <-deadline:
			r.t.Fatalf("no final report for version %d", v)
		}
	}
}

// waitStatus waits for a report of version v with status s.
func (r *rig) waitStatus(v uint64, s rollout.Status) rollout.Report {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case rep := <-r.reports:
			if rep.Version == v && rep.Status == s {
				return rep
			}
		case <-deadline:
			r.t.Fatalf("no %s report for version %d", s, v)
		}
	}
}

func (r *rig) level() string {
	c, _ := r.app.Running()
	return c.Log.Level
}

func TestValidPushCommitted(t *testing.T) {
	r := newRig(t)
	e := r.open()
	if b := e.Boot(); b.Pending || len(b.Doc) != 0 || b.Ref.Version != 0 {
		t.Fatalf("fresh boot = %+v", b)
	}
	r.start(e)
	e.Offer(rollout.Desired{Version: 1, Doc: []byte("log:\n  level: debug\n")})
	var seen []rollout.Status
	for rep := range r.reports {
		seen = append(seen, rep.Status)
		if rep.Status.Final() {
			if rep.Status != rollout.StatusCommitted || rep.Committed.Version != 1 || rep.Committed.SHA256 != rollout.Hash([]byte("log:\n  level: debug\n")) {
				t.Fatalf("final report %+v", rep)
			}
			break
		}
	}
	if strings.Join(statuses(seen), ",") != "applying,gating,committed" {
		t.Fatalf("statuses %v", seen)
	}
	if r.level() != "debug" {
		t.Fatalf("running level %q", r.level())
	}
	st := e.Status()
	if st.Committed.Version != 1 || st.Pending != nil || st.Report == nil || st.Report.Status != rollout.StatusCommitted {
		t.Fatalf("status %+v", st)
	}

	// The retained message delivered again (reconnect): silently ignored.
	e.Offer(rollout.Desired{Version: 1, Doc: []byte("log:\n  level: debug\n")})
	// An older version: stale, nothing changes.
	e.Offer(rollout.Desired{Version: 0, Doc: []byte("log:\n  level: warn\n")})
	if rep := r.final(0); rep.Status != rollout.StatusStale {
		t.Fatalf("older version: %+v", rep)
	}
	// The same version with other content: stale too.
	e.Offer(rollout.Desired{Version: 1, Doc: []byte("log:\n  level: error\n")})
	if rep := r.final(1); rep.Status != rollout.StatusStale || !strings.Contains(rep.Reason, "different content") {
		t.Fatalf("reused version: %+v", rep)
	}
	if r.level() != "debug" || r.app.Applies() != 1 {
		t.Fatalf("stale pushes changed something: level %q, applies %d", r.level(), r.app.Applies())
	}

	// A restart boots on the committed document.
	b := r.open().Boot()
	if b.Pending || b.Ref.Version != 1 || string(b.Doc) != "log:\n  level: debug\n" {
		t.Fatalf("boot after commit = %+v", b)
	}
}

func statuses(ss []rollout.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func TestInvalidPushRejectedWithEveryError(t *testing.T) {
	r := newRig(t)
	e := r.open()
	r.start(e)
	doc := `log:
  level: chatty
  colour: blue
terminal:
  id: T-9999
platform:
  channelNo: "1234"
  timeout: soon
  sm4Key: 0123456789ABCDEF0123456789ABCDEF
localapi:
  tokenFile: |
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
    -----END PRIVATE KEY-----
scenes: ~
`
	e.Offer(rollout.Desired{Version: 7, Doc: []byte(doc)})
	rep := r.final(7)
	if rep.Status != rollout.StatusRejected {
		t.Fatalf("status %s: %+v", rep.Status, rep)
	}
	got := map[string]string{}
	for _, p := range rep.Problems {
		got[p.Path] += p.Reason + "; "
	}
	for path, want := range map[string]string{
		"terminal.id":        "cannot be changed remotely",
		"platform.sm4Key":    "looks like a raw key",
		"localapi.tokenFile": "holds a PEM block",
		"scenes":             "null is not allowed",
		"log.colour":         "unknown field (line 3)",
		"log.level":          `must be debug, info, warn or error, got "chatty"`,
		"platform.channelNo": `must be 12 digits, got "1234"`,
		"":                   `want a duration such as "10s", got "soon"`,
	} {
		if !strings.Contains(got[path], want) {
			t.Errorf("problem at %q: want %q, got %q", path, want, got[path])
		}
	}
	if !strings.HasPrefix(rep.Reason, "invalid: ") || rep.Committed.Version != 0 {
		t.Errorf("report %+v", rep)
	}
	if r.app.Applies() != 0 || r.level() != "info" {
		t.Fatalf("a rejected document was applied")
	}
	// An unreadable document: one problem, nothing else tried.
	e.Offer(rollout.Desired{Version: 8, Doc: []byte("log: [")})
	if rep := r.final(8); rep.Status != rollout.StatusRejected || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].Reason, "YAML syntax") {
		t.Fatalf("syntax: %+v", rep)
	}
}

func TestPushBreakingPlatformRolledBack(t *testing.T) {
	r := newRig(t)
	e := r.open()
	r.start(e)
	e.Offer(rollout.Desired{Version: 1, Doc: []byte("log:\n  level: warn\n")})
	if rep := r.final(1); rep.Status != rollout.StatusCommitted {
		t.Fatalf("%+v", rep)
	}
	// Valid, but the platform is not there: the health gate fails and the terminal goes
	// back to version 1.
	dead := "http://127.0.0.1:" + strconv.Itoa(labtest.FreePort(t)) + "/ssc"
	e.Offer(rollout.Desired{Version: 2, Doc: []byte("log:\n  level: debug\nplatform:\n  baseURL: " + dead + "\n")})
	rep := r.final(2)
	if rep.Status != rollout.StatusRolledBack || !strings.Contains(rep.Reason, "health gate failed") ||
		!strings.Contains(rep.Reason, "platform unreachable") || !strings.Contains(rep.Reason, "rolled back to version 1") {
		t.Fatalf("report %+v", rep)
	}
	c, _ := r.app.Running()
	if c.Platform.BaseURL != r.platform.URL || c.Log.Level != "warn" {
		t.Fatalf("not rolled back: %s %s", c.Platform.BaseURL, c.Log.Level)
	}
	if rep.Committed.Version != 1 || e.Status().Committed.Version != 1 {
		t.Fatalf("committed moved: %+v", rep.Committed)
	}
	// An apply that fails is rolled back too.
	r.app.FailApplyIf(func(c agent.Config) error {
		if c.Log.Level == "error" {
			return errors.New("log sink refused the level")
		}
		return nil
	})
	e.Offer(rollout.Desired{Version: 3, Doc: []byte("log:\n  level: error\n")})
	if rep := r.final(3); rep.Status != rollout.StatusRolledBack || !strings.Contains(rep.Reason, "apply failed: log sink refused") {
		t.Fatalf("apply failure: %+v", rep)
	}
	if r.level() != "warn" {
		t.Fatalf("level %q after failed apply", r.level())
	}
	// A version that was rolled back is not retried when delivered again.
	n := r.app.Applies()
	e.Offer(rollout.Desired{Version: 3, Doc: []byte("log:\n  level: error\n")})
	e.Offer(rollout.Desired{Version: 4, Doc: []byte("log:\n  level: warn\n")})
	if rep := r.final(4); rep.Status != rollout.StatusUnchanged {
		t.Fatalf("no-op after rollback: %+v", rep)
	}
	if r.app.Applies() != n {
		t.Fatalf("redelivered or no-op version applied: %d applies, want %d", r.app.Applies(), n)
	}
}

func TestNoOpPushAppliesNothing(t *testing.T) {
	r := newRig(t)
	e := r.open()
	r.start(e)
	// The file already says info; the effective configuration is the same.
	e.Offer(rollout.Desired{Version: 5, Doc: []byte("log:\n  level: info\n")})
	rep := r.final(5)
	if rep.Status != rollout.StatusUnchanged || rep.Committed.Version != 5 {
		t.Fatalf("%+v", rep)
	}
	if r.app.Applies() != 0 {
		t.Fatalf("no-op push applied %d times", r.app.Applies())
	}
}

func TestRestartDuringGate(t *testing.T) {
	r := newRig(t)
	r.app.SetHealth(mgmttest.ErrUnhealthy)
	e := r.open()
	stop := r.start(e)
	e.Offer(rollout.Desired{Version: 1, Doc: []byte("log:\n  level: debug\n")})
	r.waitStatus(1, rollout.StatusGating)
	stop() // the agent stops (or dies) while the gate is open

	// First restart: boot on the pending document, gate it again.
	e2 := r.open()
	b := e2.Boot()
	if !b.Pending || b.Ref.Version != 1 || string(b.Doc) != "log:\n  level: debug\n" {
		t.Fatalf("boot = %+v", b)
	}
	if st := e2.Status(); st.Phase != "gating" || st.Pending == nil {
		t.Fatalf("status %+v", st)
	}
	r.app.SetHealth(nil)
	stop2 := r.start(e2)
	if rep := r.final(1); rep.Status != rollout.StatusCommitted {
		t.Fatalf("re-gated: %+v", rep)
	}
	stop2()

	// A crash loop: two restarts during one gate roll back at boot.
	r.app.SetHealth(mgmttest.ErrUnhealthy)
	e3 := r.open()
	stop3 := r.start(e3)
	e3.Offer(rollout.Desired{Version: 2, Doc: []byte("log:\n  level: error\n")})
	r.waitStatus(2, rollout.StatusGating)
	stop3()
	e4 := r.open()
	if b := e4.Boot(); !b.Pending || b.Ref.Version != 2 {
		t.Fatalf("first restart boot = %+v", b)
	}
	stop4 := r.start(e4)
	r.waitStatus(2, rollout.StatusGating)
	stop4()
	e5 := r.open()
	if b := e5.Boot(); b.Pending || b.Ref.Version != 1 || string(b.Doc) != "log:\n  level: debug\n" {
		t.Fatalf("after a crash loop the agent must boot on last-known-good, got %+v", b)
	}
	r.start(e5)
	rep := r.final(2)
	if rep.Status != rollout.StatusRolledBack || !strings.Contains(rep.Reason, "restarted 2 times") {
		t.Fatalf("crash loop: %+v", rep)
	}
	if r.level() != "debug" {
		t.Fatalf("running level %q", r.level())
	}
}

// BenchmarkCheck is what every pushed document costs before anything is applied: the
// screen (secrets, immutable paths, nulls) and validation with the agent's rules over
// the terminal's file.
func BenchmarkCheck(b *testing.B) {
	dir := b.TempDir()
	app, err := mgmttest.NewApplier(dir, mgmttest.BaseConfig("T-1", "http://127.0.0.1:1", filepath.Join(dir, "state")))
	if err != nil {
		b.Fatal(err)
	}
	doc := []byte("log:\n  level: debug\nplatform:\n  timeout: 20s\nlocalapi:\n  allowOrigins: [\"http://localhost:3000\"]\n")
	b.ReportAllocs()
	for b.Loop() {
		if ps := rollout.Screen(doc, rollout.DefaultImmutable); len(ps) > 0 {
			b.Fatal(ps)
		}
		if _, err := app.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

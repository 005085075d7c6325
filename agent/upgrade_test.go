package agent_test

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/credential"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt/rollout"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/queue"
)

// The upgrade fixtures: state directories written by a release, opened by every later
// one (docs/deploy.md, "Upgrades and downgrades"). v1 is this release's; regenerate it
// (only while StateSchema is 1) with:
//
//	go test ./agent -run TestUpgradeFixtureV1 -update-fixture
var updateFixture = flag.Bool("update-fixture", false, "rewrite agent/testdata/upgrade/v1")

const (
	fixtureV1       = "testdata/upgrade/v1"
	fixtureTerminal = "SSC-UPGRADE-0001"
	fixtureDoc      = "log:\n  level: debug\n"
)

var fixtureBodies = []string{`{"record":"C.3 identity"}`, `{"record":"C.4 payment"}`}

// okApplier accepts every document at once: the fixture's last-known-good
// configuration goes through the real rollout engine.
type okApplier struct{}

func (okApplier) Validate(doc []byte) ([]byte, error) { return doc, nil }
func (okApplier) Apply(context.Context, []byte) error { return nil }
func (okApplier) Health(context.Context) error        { return nil }
func openFixtureRollout(dir string) (*rollout.Engine, error) {
	return rollout.Open(rollout.Options{Dir: filepath.Join(dir, "rollout"), Applier: okApplier{}, Window: 10 * time.Second, Interval: 10 * time.Millisecond})
}

// writeFixtureV1 writes a v1 state directory with this release's stores.
func writeFixtureV1(t *testing.T, dir string) {
	ctx := t.Context()
	key, err := queue.LoadKey(config.SecretFile(filepath.Join(dir, "queue.key")), true)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(filepath.Join(dir, queue.FileName), queue.Options{Terminal: fixtureTerminal, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for i, lane := range []queue.Lane{queue.LaneIdentity, queue.LaneMoney} {
		if _, err := q.Put(ctx, queue.Entry{Lane: lane, Kind: []string{"credential", "payment"}[i], Body: []byte(fixtureBodies[i])}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := payment.Open(filepath.Join(dir, payment.FileName), payment.Options{Terminal: fixtureTerminal})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Create(ctx, payment.Request{Amount: 1250, Subject: "社保缴费", Scene: "cashier"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := openFixtureRollout(dir)
	if err != nil {
		t.Fatal(err)
	}
	e.Offer(rollout.Desired{Version: 7, Doc: []byte(fixtureDoc)})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- e.Run(rctx, func(r rollout.Report) {
			if r.Status.Final() {
				if r.Status != rollout.StatusCommitted {
					t.Errorf("fixture config: %+v", r)
				}
				cancel()
			}
		})
	}()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := agent.MarkStateDir(dir); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the fixture so that the test never writes into testdata.
func copyDir(t *testing.T, src string) string {
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestUpgradeFixtureV1: today's code opens the v1 state directory and finds its
// records, its open payment order and its last-known-good configuration.
func TestUpgradeFixtureV1(t *testing.T) {
	if *updateFixture {
		if agent.StateSchema != 1 {
			t.Fatal("v1 is frozen: add testdata/upgrade/vN for schema N instead")
		}
		_ = os.RemoveAll(fixtureV1)
		if err := os.MkdirAll(fixtureV1, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFixtureV1(t, fixtureV1)
	}
	dir := copyDir(t, fixtureV1)
	if err := agent.CheckStateDir(dir); err != nil {
		t.Fatal(err)
	}
	key, err := queue.LoadKey(config.SecretFile(filepath.Join(dir, "queue.key")), false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(filepath.Join(dir, queue.FileName), queue.Options{Terminal: fixtureTerminal, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var bodies []string
	for _, lane := range []queue.Lane{queue.LaneIdentity, queue.LaneMoney} {
		recs, err := q.List(lane, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			bodies = append(bodies, string(r.Body))
		}
	}
	if strings.Join(bodies, "|") != strings.Join(fixtureBodies, "|") {
		t.Fatalf("queue records %q, want %q", bodies, fixtureBodies)
	}
	p, err := payment.Open(filepath.Join(dir, payment.FileName), payment.Options{Terminal: fixtureTerminal})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	orders, err := p.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 || orders[0].Amount != 1250 || orders[0].Subject != "社保缴费" || orders[0].State != payment.Created {
		t.Fatalf("payment orders %+v", orders)
	}
	e, err := openFixtureRollout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Boot(); string(b.Doc) != fixtureDoc || b.Ref.Version != 7 || b.Pending {
		t.Fatalf("last-known-good configuration %+v", b)
	}
}

// snapshot records every file's bytes and modification time under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = info.ModTime().String() + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNewerStateRefused: a build meeting a state directory of a newer schema (a
// downgrade) refuses to start with a clear message, and leaves every file as it was.
func TestNewerStateRefused(t *testing.T) {
	dir := copyDir(t, fixtureV1)
	if err := os.WriteFile(filepath.Join(dir, agent.StateMarker), []byte(`{"schema":2,"writtenBy":"v9.9.9"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			_ = os.Chtimes(p, old, old)
		}
		return err
	})
	before := snapshot(t, dir)
	tmp := t.TempDir()
	cfg, err := agent.LoadConfig(writeConfig(t, tmp, startSandbox(t, tmp, platformsim.Options{}), rigOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Agent.StateDir = dir
	_, err = agent.New(cfg, agent.Options{})
	if !errors.Is(err, agent.ErrNewerState) || !strings.Contains(err.Error(), "v9.9.9") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("New on a newer state directory: %v", err)
	}
	if after := snapshot(t, dir); len(after) != len(before) {
		t.Fatalf("files changed: %d before, %d after", len(before), len(after))
	} else {
		for p, v := range before {
			if after[p] != v {
				t.Fatalf("%s changed", p)
			}
		}
	}
}

func TestStateMarker(t *testing.T) {
	dir := t.TempDir()
	if err := agent.CheckStateDir(dir); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	if err := agent.MarkStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := agent.CheckStateDir(dir); err != nil {
		t.Fatalf("own marker: %v", err)
	}
	for _, bad := range []string{"", "{", `{"schema":0}`, `{"schema":"1"}`} {
		if err := os.WriteFile(filepath.Join(dir, agent.StateMarker), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := agent.CheckStateDir(dir); err == nil || !strings.Contains(err.Error(), agent.StateMarker) {
			t.Errorf("marker %q: %v", bad, err)
		}
	}
}

func FuzzStateMark(f *testing.F) {
	f.Add([]byte(`{"schema":1,"writtenBy":"v1.0.0"}`))
	f.Add([]byte(`{"schema":99}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		schema, err := agent.ParseStateMark(b)
		if err == nil && schema < 1 {
			t.Fatalf("accepted schema %d", schema)
		}
	})
}

// TestUpgradeFixtureV1ToCredential: the v1 state directory, made with a plain queue.key,
// started by the agent with queue.keySecret a systemd credential: the key is wrapped
// under the credential and queue.key deleted at that first start, the records stay, and
// the state directory no longer opens without the credential.
func TestUpgradeFixtureV1ToCredential(t *testing.T) {
	qs := []byte("a queue secret of 32 bytes......")
	labtest.SealCredentials(t, map[string][]byte{"sscagent-queue": qs})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.Rename(copyDir(t, fixtureV1), state); err != nil {
		t.Fatal(err)
	}
	plainKey, err := queue.LoadKey(config.SecretFile(filepath.Join(state, "queue.key")), false)
	if err != nil {
		t.Fatal(err)
	}
	var logs labtest.Output
	sb := startSandbox(t, dir, platformsim.Options{Faults: []platformsim.Fault{{Op: "backflow", Kind: platformsim.FaultHTTP, Status: 503}}})
	r := newRig(t, rigOptions{SB: sb, Dir: dir, Log: &logs, Replace: []string{"id: SSC-E2E-0001", "id: " + fixtureTerminal},
		Extra: "queue:\n  keySecret: credential:sscagent-queue\n"})
	if err := r.run.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "queue key wrapped under queue.keySecret") {
		t.Error("no log line for the migration")
	}
	if _, err := os.Stat(filepath.Join(state, "queue.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("queue.key after the migration: %v", err)
	}
	ks := r.a.Config().Queue.KeySource(state)
	key, from, err := ks.Load(false)
	if err != nil || from != queue.KeyFromWrapped || string(key) != string(plainKey) {
		t.Fatalf("the wrapped key: %v %v", from, err)
	}
	q, err := queue.Open(filepath.Join(state, queue.FileName), queue.Options{Terminal: fixtureTerminal, Key: key, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, lane := range []queue.Lane{queue.LaneIdentity, queue.LaneMoney} {
		recs, err := q.List(lane, 10, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			bodies = append(bodies, string(rec.Body))
		}
	}
	q.Close()
	if strings.Join(bodies, "|") != strings.Join(fixtureBodies, "|") {
		t.Fatalf("queue records after the migration %q, want %q", bodies, fixtureBodies)
	}
	t.Setenv(credential.EnvDir, "")
	if _, _, err := ks.Load(true); !errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("without the credential: %v", err)
	}
}

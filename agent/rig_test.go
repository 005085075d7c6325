package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// The end-to-end tests run the whole agent (agent.New + Run, built from a real YAML
// file) against the in-process sandbox platform over HTTPS, with the card path on the
// sim driver or on a private pcscd with vpcd, scanners on socat ptys, and the local API
// over HTTP with its bearer token.

const testToken = "e2e-token-0123456789abcdef"

// rigOptions shape one agent under test.
type rigOptions struct {
	// Scenes, Scanners and Cards are YAML of the "scenes" and "scanners" lists and the
	// "cards" section, indented by two spaces; empty Cards is driver sim.
	Scenes, Scanners, Cards string
	// Extra is appended to the file (other sections).
	Extra string
	// Sandbox adjusts the sandbox platform.
	Sandbox platformsim.Options
	// Sandbox reuses a running sandbox instead (crash tests).
	SB *platformsim.Sandbox
	// Dir is the test directory (state, keys); empty: a new temporary one.
	Dir string
	// API is the local API's listen address; empty: 127.0.0.1:0.
	API string
	// Log, when set, receives the agent's logs (debug level, text).
	Log io.Writer
	// Replace are old, new pairs applied to the configuration file's text.
	Replace []string
}

// rig is an agent under test with its sandbox and its event history.
type rig struct {
	t    testing.TB
	dir  string
	path string // configuration file
	sb   *platformsim.Sandbox
	a    *agent.Agent
	run  *agent.Runner
	base string // local API base URL

	mu     sync.Mutex // guards events
	events []event.Event
	more   chan struct{} // closed and replaced when events grow
}

// startSandbox runs a sandbox platform for the test.
func startSandbox(t testing.TB, dir string, o platformsim.Options) *platformsim.Sandbox {
	t.Helper()
	if o.HSM == nil {
		o.HSM = cardsim.HSM{}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	sb, err := platformsim.Start(context.Background(), filepath.Join(dir, "sandbox"), platformsim.StartOptions{Options: o, TestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// writeConfig writes the agent's configuration file for o into dir and returns its path.
func writeConfig(t testing.TB, dir string, sb *platformsim.Sandbox, o rigOptions) string {
	t.Helper()
	pc := sb.ClientConfig(platformsim.DefaultChannel, true)
	tok := filepath.Join(dir, "localapi.token")
	if err := os.WriteFile(tok, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cards := o.Cards
	if cards == "" {
		cards = "  driver: sim\n  sim:\n    cards: [zhangsan]\n    psam: true\n"
	}
	api := o.API
	if api == "" {
		api = "127.0.0.1:0"
	}
	scanners := o.Scanners
	if scanners == "" {
		scanners = "  []\n"
	}
	yaml := fmt.Sprintf(`version: 1
terminal:
  id: SSC-E2E-0001
  manufacturer: Test Terminals Co.
  model: E-2
  institution: 示例市人力资源和社会保障局
  creditCode: 91350100M000100Y43
  region: "350100"
  site: 测试网点
  deviceType: kiosk
  cardModes: [card, ecard-scan, ecard-payment]
  test: true
agent:
  stateDir: %s
  shutdownTimeout: 10s
  restartBackoffMax: 1s
log:
  level: debug
platform:
  baseURL: %s
  channelNo: "%s"
  applicationNo: "02"
  privateKey: %s
  platformPublicKey: %s
  sm4Key: %s
  caFile: %s
  timeout: 3s
localapi:
  listen: %s
  tokenFile: %s
backflow:
  batchSize: 100
  ratePerSecond: 20000
  burst: 20000
  backoffBase: 50ms
  backoffMax: 500ms
  interval: 200ms
  submitTimeout: 3s
payment:
  callTimeout: 2s
  queryDelay: 50ms
  queryInterval: 100ms
  queryFor: 4s
  reverseInterval: 50ms
records:
  institutionAddress: 示例市示例路1号
  channel: 线下自助终端
scanners:
%sscenes:
%scards:
%s%s`, filepath.Join(dir, "state"), pc.BaseURL, pc.ChannelNo, pc.PrivateKey, pc.PlatformPublicKey, pc.SM4Key, pc.CAFile,
		api, tok, scanners, o.Scenes, cards, o.Extra)
	yaml = strings.NewReplacer(o.Replace...).Replace(yaml)
	path := filepath.Join(dir, "sscagent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testLogger is the production masking logger at debug level writing to w and to the
// run's log sink (labtest.LogEnv, read by the leak check after make test).
func testLogger(w io.Writer) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	l, _ := logging.New(io.MultiWriter(w, labtest.LogSink()), logging.Config{Level: "debug", Format: logging.FormatText}, false)
	return l
}

// newRig starts a sandbox and an agent configured by o, and waits until the local API
// serves.
func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	sb := o.SB
	if sb == nil {
		sb = startSandbox(t, dir, o.Sandbox)
	}
	path := writeConfig(t, dir, sb, o)
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, dir: dir, path: path, sb: sb, more: make(chan struct{})}
	bus := event.NewBus(4096)
	sub := bus.Subscribe(4096, true, 0)
	logger := testLogger(o.Log)
	r.a, err = agent.New(cfg, agent.Options{Events: bus, ConfigPath: path, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case e := <-sub.C():
				if labtest.Collecting() {
					if b, err := json.Marshal(e); err == nil {
						_, _ = labtest.LogSink().Write(append(b, '\n'))
					}
				}
				r.mu.Lock()
				r.events = append(r.events, e)
				close(r.more)
				r.more = make(chan struct{})
				r.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	r.run = agent.Start(r.a)
	t.Cleanup(func() {
		if err := r.run.Stop(); err != nil {
			t.Errorf("agent stop: %v", err)
		}
		cancel()
		<-collected
		sub.Close()
		r.checkDocumented()
	})
	deadline := time.Now().Add(10 * time.Second)
	for r.a.LocalAPIAddr() == "" {
		select {
		case <-r.run.Done():
			t.Fatalf("agent ended: %v", r.run.Err())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("local API not serving within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.base = "http://" + r.a.LocalAPIAddr()
	r.expect("agent.ready", nil)
	return r
}

// checkDocumented fails the test for an event kind it saw that docs/agent.md does not
// list.
func (r *rig) checkDocumented() {
	b, err := os.ReadFile("../docs/agent.md")
	if err != nil {
		r.t.Fatal(err)
	}
	doc := string(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		k := string(e.Kind)
		if !strings.Contains(doc, "`"+k+"`") && !(strings.HasPrefix(k, "config.") && strings.Contains(doc, "`config.*`")) {
			r.t.Errorf("event kind %s is not in docs/agent.md", k)
		}
	}
}

// expect waits (at most 15 s) for an event of kind after the ones already matched by
// earlier expects with the same kind, for which match (if not nil) holds, and returns it.
func (r *rig) expect(kind event.Kind, match func(event.Event) bool) event.Event {
	r.t.Helper()
	e, ok := r.await(kind, match, 15*time.Second)
	if !ok {
		r.t.Fatalf("no %s event within 15s; events:\n%s", kind, r.dump())
	}
	return e
}

// expectSince is expect for the events after seq; it skips the earlier ones without
// looking at them (benchmarks with long histories).
func (r *rig) expectSince(seq uint64, kind event.Kind) event.Event {
	r.t.Helper()
	e, ok := r.awaitFrom(seq, kind, nil, 15*time.Second)
	if !ok {
		r.t.Fatalf("no %s event after %d within 15s", kind, seq)
	}
	return e
}

// await is expect without failing: it reports whether the event came within d.
func (r *rig) await(kind event.Kind, match func(event.Event) bool, d time.Duration) (event.Event, bool) {
	return r.awaitFrom(0, kind, match, d)
}

func (r *rig) awaitFrom(seq uint64, kind event.Kind, match func(event.Event) bool, d time.Duration) (event.Event, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		from := sort.Search(len(r.events), func(i int) bool { return r.events[i].Seq > seq })
		for _, e := range r.events[from:] {
			if e.Kind == kind && (match == nil || match(e)) {
				r.mu.Unlock()
				return e, true
			}
		}
		more := r.more
		r.mu.Unlock()
		select {
		case <-more:
		case <-deadline.C:
			return event.Event{}, false
		}
	}
}

// count returns how many events of kind matched so far.
func (r *rig) count(kind event.Kind, match func(event.Event) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && (match == nil || match(e)) {
			n++
		}
	}
	return n
}

// after returns a matcher for events later than seq.
func after(seq uint64, more func(event.Event) bool) func(event.Event) bool {
	return func(e event.Event) bool { return e.Seq > seq && (more == nil || more(e)) }
}

// dataIs matches events whose data field k is v.
func dataIs(k string, v any) func(event.Event) bool {
	return func(e event.Event) bool { return fmt.Sprint(e.Data[k]) == fmt.Sprint(v) }
}

func (r *rig) lastSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		return 0
	}
	return r.events[len(r.events)-1].Seq
}

func (r *rig) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		d, _ := json.Marshal(e.Data)
		code := ""
		if e.Prompts != nil {
			code = e.Prompts.Maintainer
		}
		fmt.Fprintf(&b, "  %d %s scene=%s src=%s ok=%v %s %s\n", e.Seq, e.Kind, e.Scene, e.Source, e.OK, code, d)
	}
	return b.String()
}

// call makes a local API request with the bearer token and decodes the JSON answer.
func (r *rig) call(method, path string, body any, hdr ...string) (int, map[string]any) {
	r.t.Helper()
	return callAPI(r.t, r.base, method, path, body, hdr...)
}

func callAPI(t testing.TB, base, method, path string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

// ledgerRecords returns the backflow records the sandbox stored, decoded, by id.
func ledgerRecords(t testing.TB, sb *platformsim.Sandbox) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for id, lr := range sb.Ledger().Records {
		var m map[string]string
		if err := json.Unmarshal(lr.Record, &m); err != nil {
			t.Fatal(err)
		}
		m["$kind"] = lr.Kind
		m["$received"] = fmt.Sprint(lr.Received)
		out[id] = m
	}
	return out
}

// waitLedger waits until the sandbox stored a record for which match holds.
func waitLedger(t testing.TB, sb *platformsim.Sandbox, what string, match func(id string, rec map[string]string) bool) (string, map[string]string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for id, rec := range ledgerRecords(t, sb) {
			if match(id, rec) {
				return id, rec
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox did not store %s within 15s; it has %v", what, ledgerRecords(t, sb))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// fakeFleet is the fleet client for handler tests: Follow delivers what the test
// sends, PushConfig and Command record their calls.
type fakeFleet struct {
	updates chan fleet.Update

	mu       sync.Mutex
	pushes   [][]string
	commands []string
	block    bool // PushConfig waits for its context
}

func (f *fakeFleet) Follow(ctx context.Context, fn func(fleet.Update), synced func()) error {
	synced()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-f.updates:
			fn(u)
		}
	}
}

func (f *fakeFleet) PushConfig(ctx context.Context, ids []string, doc []byte, o fleet.PushOptions) ([]fleet.PushResult, error) {
	f.mu.Lock()
	f.pushes = append(f.pushes, ids)
	block := f.block
	f.mu.Unlock()
	var out []fleet.PushResult
	for _, id := range ids {
		if block {
			<-ctx.Done()
			out = append(out, fleet.PushResult{ID: id, Version: 1, Status: fleet.StatusTimeout})
			continue
		}
		o.Progress(id, mgmt.Reported{V: 1, Report: rollout.Report{Ref: rollout.Ref{Version: 1}, Status: rollout.StatusGating}})
		out = append(out, fleet.PushResult{ID: id, Version: 1, Status: string(rollout.StatusCommitted)})
	}
	return out, nil
}

func (f *fakeFleet) Command(ctx context.Context, ids []string, name string, args json.RawMessage, timeout time.Duration) ([]fleet.CommandResult, error) {
	f.mu.Lock()
	f.commands = append(f.commands, name)
	f.mu.Unlock()
	return []fleet.CommandResult{{ID: ids[0], CommandID: "c1-x", Status: mgmt.ResultOK,
		Result: &mgmt.Result{V: 1, ID: "c1-x", Name: name, Status: mgmt.ResultOK, Result: json.RawMessage(`{"note":"holder 350102199003077898"}`)}}}, nil
}

func (f *fakeFleet) calls() (pushes, commands int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pushes), len(f.commands)
}

const testToken = "correct-horse-battery-staple"

type harness struct {
	t     *testing.T
	srv   *Server
	fleet *fakeFleet
	http  *httptest.Server
	audit string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	ap := filepath.Join(dir, "audit.jsonl")
	al, err := OpenAudit(ap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	m, err := NewManager("alice", testToken)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFleet{updates: make(chan fleet.Update)}
	s, err := New(Options{Fleet: f, Managers: []Manager{m}, Audit: al})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); cancel(); <-done })
	return &harness{t: t, srv: s, fleet: f, http: hs, audit: ap}
}

// send feeds one message to the model and waits until it has been applied.
func (h *harness) send(u fleet.Update) { h.fleet.updates <- u; h.fleet.updates <- fleet.Update{} }

func (h *harness) do(method, path, body string, hdr map[string]string, cookies ...*http.Cookie) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login returns the session cookie and CSRF token.
func (h *harness) login() (*http.Cookie, string) {
	h.t.Helper()
	resp, body := h.do("POST", "/login", "token="+url.QueryEscape(testToken), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 200 {
		h.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var s struct{ Manager, CSRF string }
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.Manager != "alice" || s.CSRF == "" {
		h.t.Fatalf("login answer %s", body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c, s.CSRF
		}
	}
	h.t.Fatal("no session cookie")
	return nil, ""
}

func (h *harness) auditLines() []AuditRecord {
	h.t.Helper()
	f, err := os.Open(h.audit)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	var out []AuditRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			h.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	labtest.WaitUntil(t, 10*time.Second, what, cond)
}

func TestLogin(t *testing.T) {
	h := newHarness(t)
	if resp, _ := h.do("GET", "/api/terminals", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a session: %d", resp.StatusCode)
	}
	resp, _ := h.do("POST", "/login", "token=wrong-token-of-some-length", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	c, csrf := h.login()
	raw := ""
	resp, _ = h.do("POST", "/login", "token="+testToken, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	raw = resp.Header.Get("Set-Cookie")
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || !strings.Contains(raw, "HttpOnly") || !strings.Contains(raw, "SameSite=Strict") {
		t.Fatalf("cookie %+v (%s)", c, raw)
	}
	resp, body := h.do("GET", "/api/session", "", nil, c)
	if resp.StatusCode != 200 || !strings.Contains(body, csrf) {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	// Cross-origin login attempts are refused outright.
	resp, _ = h.do("POST", "/login", "token="+testToken, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
	// Logout ends the session.
	if resp, body := h.do("POST", "/logout", "", map[string]string{"X-CSRF-Token": csrf}, c); resp.StatusCode != 200 {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("GET", "/api/session", "", nil, c); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
	var got []string
	for _, r := range h.auditLines() {
		got = append(got, r.Manager+":"+r.Action+":"+r.Result)
	}
	if want := ":login:refused alice:login:ok alice:login:ok alice:logout:ok"; strings.Join(got, " ") != want {
		t.Fatalf("audit %v, want %s", got, want)
	}
}

func TestSecureCookieWithTLS(t *testing.T) {
	m, _ := NewManager("bob", testToken)
	al, err := OpenAudit(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	s, err := New(Options{Fleet: &fakeFleet{}, Managers: []Manager{m}, Audit: al, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/login", strings.NewReader("token="+testToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.ServeHTTP(rec, req)
	if c := rec.Result().Cookies(); rec.Code != 200 || len(c) != 1 || !c[0].Secure || !c[0].HttpOnly {
		t.Fatalf("%d %v", rec.Code, c)
	}
}

func TestCSRFRefused(t *testing.T) {
	h := newHarness(t)
	c, csrf := h.login()
	body := `{"targets":"T1","doc":"log:\n  level: debug\n"}`
	for name, hdr := range map[string]map[string]string{
		"no token":     {},
		"wrong token":  {"X-CSRF-Token": csrf + "x"},
		"other origin": {"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
	} {
		resp, _ := h.do("POST", "/api/rollouts", body, hdr, c)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
		resp, _ = h.do("POST", "/api/terminals/T1/commands", `{"name":"ping"}`, hdr, c)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: command %d", name, resp.StatusCode)
		}
	}
	// Without a session the token alone does nothing.
	if resp, _ := h.do("POST", "/api/rollouts", body, map[string]string{"X-CSRF-Token": csrf}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d", resp.StatusCode)
	}
	if p, cmds := h.fleet.calls(); p != 0 || cmds != 0 {
		t.Fatalf("refused requests acted: %d pushes, %d commands", p, cmds)
	}
	n := 0
	for _, r := range h.auditLines() {
		if r.Action == "csrf.refused" && r.Manager == "alice" {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("%d csrf.refused audit lines, want 6", n)
	}
}

func TestCommandAudited(t *testing.T) {
	h := newHarness(t)
	c, csrf := h.login()
	resp, body := h.do("POST", "/api/terminals/T1/commands", `{"name":"diagnostics"}`, map[string]string{"X-CSRF-Token": csrf}, c)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	waitFor(t, "the command's result", func() bool {
		d, ok := h.srv.Model().Terminal("T1")
		return ok && len(d.Commands) == 1 && d.Commands[0].Status == mgmt.ResultOK
	})
	d, _ := h.srv.Model().Terminal("T1")
	if cmd := d.Commands[0]; cmd.By != "alice" || cmd.ID != "c1-x" || !strings.Contains(string(cmd.Result), "**************7898") || strings.Contains(string(cmd.Result), "350102199003077898") {
		t.Fatalf("%+v %s", cmd, cmd.Result)
	}
	lines := h.auditLines()
	last := lines[len(lines)-1]
	if last.Manager != "alice" || last.Action != "command" || strings.Join(last.Targets, ",") != "T1" || last.Result != "sent" || last.Detail != "diagnostics" || last.Time.IsZero() {
		t.Fatalf("audit %+v", last)
	}
	for _, bad := range []string{`{"name":"bad name"}`, `{"name":"ping","args":[}`, `{"name":"ping","timeout":9999}`, `{"name":"ping","extra":1}`} {
		if resp, _ := h.do("POST", "/api/terminals/T1/commands", bad, map[string]string{"X-CSRF-Token": csrf}, c); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}

func TestRolloutStop(t *testing.T) {
	h := newHarness(t)
	for i := range 4 {
		h.send(stateUpdate(fmt.Sprintf("T%d", i), mgmt.StatusOnline, 1, "site"))
	}
	c, csrf := h.login()
	hdr := map[string]string{"X-CSRF-Token": csrf}
	// Refused before anything is sent: key material, an unknown glob.
	if resp, body := h.do("POST", "/api/rollouts", `{"targets":"T*","doc":"platform:\n  sm4Key: 00112233445566778899aabbccddeeff\n"}`, hdr, c); resp.StatusCode != 400 || !strings.Contains(body, "problems") {
		t.Fatalf("secret: %d %s", resp.StatusCode, body)
	}
	if resp, _ := h.do("POST", "/api/rollouts", `{"targets":"X*","doc":""}`, hdr, c); resp.StatusCode != 400 {
		t.Fatalf("no match: %d", resp.StatusCode)
	}
	// A rollout in batches of 2 whose first batch never answers: stop it.
	h.fleet.mu.Lock()
	h.fleet.block = true
	h.fleet.mu.Unlock()
	resp, body := h.do("POST", "/api/rollouts", `{"targets":"T*","doc":"log:\n  level: debug\n","batch":2}`, hdr, c)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var v RolloutView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first batch", func() bool { p, _ := h.fleet.calls(); return p == 1 })
	if resp, body := h.do("POST", "/api/rollouts/"+v.ID+"/stop", "", hdr, c); resp.StatusCode != 200 {
		t.Fatalf("stop: %d %s", resp.StatusCode, body)
	}
	_, body = h.do("GET", "/api/rollouts/"+v.ID, "", nil, c)
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.State != RolloutStopped || v.Counts[StatusUnwatched] != 2 || v.Counts[StatusNotSent] != 2 {
		t.Fatalf("after stop: %s %v", v.State, v.Counts)
	}
	if p, _ := h.fleet.calls(); p != 1 {
		t.Fatalf("%d batches sent after the stop", p)
	}
	if resp, _ := h.do("POST", "/api/rollouts/"+v.ID+"/stop", "", hdr, c); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second stop: %d", resp.StatusCode)
	}
	var acts []string
	for _, r := range h.auditLines()[1:] {
		acts = append(acts, r.Action+":"+r.Result)
	}
	if want := "rollout.start:started rollout.stop:stopping rollout.end:stopped rollout.stop:stopping"; strings.Join(acts, " ") != want {
		t.Fatalf("audit %v, want %s", acts, want)
	}
}

func TestRolloutCommits(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		h.send(stateUpdate(fmt.Sprintf("T%d", i), mgmt.StatusOnline, 1, "site"))
	}
	c, csrf := h.login()
	resp, body := h.do("POST", "/api/rollouts", `{"targets":"T1 T3,T4","doc":"log:\n  level: debug\n","batch":1}`, map[string]string{"X-CSRF-Token": csrf}, c)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var v RolloutView
	_ = json.Unmarshal([]byte(body), &v)
	waitFor(t, "the rollout's end", func() bool { return h.srv.rollouts.get(v.ID).view(false).State == RolloutDone })
	v = h.srv.rollouts.get(v.ID).view(true)
	if v.Counts["committed"] != 3 || len(v.Terminals) != 3 || v.Terminals[2].ID != "T4" {
		t.Fatalf("%+v", v)
	}
	if p, _ := h.fleet.calls(); p != 3 {
		t.Fatalf("%d batches, want 3", p)
	}
}

func TestStream(t *testing.T) {
	h := newHarness(t)
	c, _ := h.login()
	req, _ := http.NewRequest("GET", h.http.URL+"/api/terminals?stream=1&q=T9", nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	next := func() Page {
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var p Page
				if err := json.Unmarshal([]byte(d), &p); err != nil {
					t.Fatal(err)
				}
				return p
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return Page{}
	}
	if p := next(); p.Matched != 0 {
		t.Fatalf("first view %+v", p)
	}
	h.send(stateUpdate("T9", mgmt.StatusOnline, 3, "lobby"))
	if p := next(); p.Matched != 1 || p.Rows[0].ID != "T9" || p.Rows[0].Presence != fleet.Online || p.Rows[0].Epoch != 3 {
		t.Fatalf("after the birth %+v", p)
	}
	h.send(stateUpdate("T9", mgmt.StatusOffline, 3, ""))
	if p := next(); p.Rows[0].Presence != fleet.Offline {
		t.Fatalf("after the will %+v", p)
	}
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, "[::1]:80": true, "localhost:80": true, "127.0.0.2:1": true,
		"0.0.0.0:80": false, ":80": false, "10.0.0.1:80": false, "example.com:80": false, "nonsense": false} {
		if err := CheckListen(addr, false); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := CheckListen("0.0.0.0:443", true); err != nil {
		t.Error(err)
	}
}

func TestLoadManager(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "carol.token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadManager(config.SecretFile(p), "")
	if err != nil || m.Name != "carol" {
		t.Fatalf("%+v %v", m, err)
	}
	if m, err = LoadManager(config.SecretFile(p), "Carol Chen"); err != nil || m.Name != "Carol Chen" {
		t.Fatalf("%+v %v", m, err)
	}
	_ = os.WriteFile(p, []byte("short\n"), 0o600)
	if _, err := LoadManager(config.SecretFile(p), ""); err == nil {
		t.Fatal("short token accepted")
	}
	_ = os.WriteFile(p, []byte(testToken), 0o600)
	_ = os.Chmod(p, 0o644)
	if _, err := LoadManager(config.SecretFile(p), ""); err == nil {
		t.Fatal("world-readable token accepted")
	}
}

// stateUpdate is a retained birth (online) or will (offline).
func stateUpdate(id, status string, epoch uint64, site string) fleet.Update {
	s := mgmt.State{V: 1, Status: status, Epoch: epoch, Time: time.Now().UTC()}
	if status == mgmt.StatusOnline {
		s.Terminal = &mgmt.Registration{ID: id, Site: site}
		s.Software = &mgmt.Software{Version: "v1.2.0"}
	} else {
		s.Reason = mgmt.ReasonConnectionLost
	}
	b, _ := json.Marshal(s)
	return fleet.Update{Terminal: id, Kind: mgmt.KindState, Retained: true, Payload: b}
}

func telemetryUpdate(id string, epoch, seq uint64, queue int, problems ...string) fleet.Update {
	tm := mgmt.Telemetry{V: 1, Epoch: epoch, Seq: seq, Time: time.Now().UTC(), Health: mgmt.Health{Status: mgmt.HealthOK}}
	if len(problems) > 0 {
		tm.Health = mgmt.Health{Status: mgmt.HealthDegraded, Problems: problems}
	}
	tm.Queue = &mgmt.Queue{Depth: queue}
	b, _ := json.Marshal(tm)
	return fleet.Update{Terminal: id, Kind: mgmt.KindTelemetry, Payload: b}
}

func eventUpdate(id string, data map[string]any) fleet.Update {
	b, _ := json.Marshal(mgmt.EventMessage{V: 1, Epoch: 1, Boot: "b", Event: event.Event{Seq: 1, Time: time.Now(), Kind: "card.read", Data: data}})
	return fleet.Update{Terminal: id, Kind: mgmt.KindEvents, Payload: b}
}

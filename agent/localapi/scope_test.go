package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
)

// The test holder: every answer the fakes give names them in clear.
const (
	holderName = "张三丰"
	holderID   = "11010119900307851X"
)

// personalMarks are the pieces of the holder that must never reach a gate token, clear
// or masked (a masked ID keeps its last four characters, a masked name its first).
var personalMarks = []string{holderName, "张", holderID, "851X", "110101"}

// clearHolder is a read as the agent serves it: the holder in clear.
type clearHolder struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	SSN  string `json:"socialSecurityNo"`
}

func (c clearHolder) Disclosed() (string, string, bool) { return c.ID, mask.IDNumber(c.SSN), true }

// personalFakes answer every service with the holder in clear.
type personalFakes struct{}

func (personalFakes) Create(context.Context, PaymentRequest) (any, error) {
	return map[string]any{"id": "T1-1"}, nil
}
func (personalFakes) Get(context.Context, string) (any, error) {
	return map[string]any{"id": "T1-1"}, nil
}
func (personalFakes) Cancel(context.Context, string) (any, error) {
	return map[string]any{"id": "T1-1"}, nil
}
func (personalFakes) List(context.Context, []string, int) (any, error) {
	return map[string]any{"payments": []any{}}, nil
}
func (personalFakes) Settle(context.Context, string, SettleRequest) (any, error) {
	return map[string]any{"id": "T1-1"}, nil
}
func (personalFakes) Refund(context.Context, string, RefundRequest) (any, error) {
	return map[string]any{"refundNo": "R1"}, nil
}
func (personalFakes) GetRefund(context.Context, string, time.Duration) (any, error) {
	return map[string]any{"refundNo": "R1"}, nil
}
func (personalFakes) Accept(context.Context, string, json.RawMessage, string) (string, bool, error) {
	return "T1-000000000001", false, nil
}
func (personalFakes) Status() any     { return map[string]any{"status": "ok", "terminal": "T1"} }
func (personalFakes) QueueStats() any { return map[string]any{"pending": 1} }
func (personalFakes) Read(_ context.Context, id string) (any, error) {
	return clearHolder{ID: id, Name: holderName, SSN: holderID}, nil
}
func (personalFakes) ReadCard(context.Context, CardReadRequest) (CardReadResult, error) {
	return CardReadResult{Reader: "R1", IReadCardBas: "350100|" + holderID + "|A1|X|" + holderName + "|", Subject: mask.IDNumber(holderID)}, nil
}
func (f personalFakes) HSMStep1(ctx context.Context, r CardReadRequest) (CardReadResult, error) {
	return CardReadResult{Step1: "s", Session: "1"}, nil
}
func (f personalFakes) HSMStep2(ctx context.Context, r HSMStep2Request) (CardReadResult, error) {
	return f.ReadCard(ctx, CardReadRequest{})
}
func (personalFakes) SettleMedical(context.Context, MedicalSettleRequest) (MedicalSettleResult, error) {
	return MedicalSettleResult{State: "debited"}, nil
}
func (personalFakes) VerifyFace(context.Context, FaceRequest) (FaceResult, error) {
	return FaceResult{Result: FacePass}, nil
}
func (personalFakes) StartLogin(context.Context, LoginRequest) (LoginView, error) {
	return LoginView{LoginID: "L1", State: LoginWaiting}, nil
}
func (personalFakes) WaitLogin(context.Context, string, time.Duration) (LoginView, error) {
	return LoginView{LoginID: "L1", State: LoginAuthorised, Holder: &LoginHolder{IDNumber: holderID, IDType: "01", Name: holderName}}, nil
}

// scopedServer serves every service with three scoped tokens (and no legacy token).
func scopedServer(t *testing.T, bus *event.Bus, au Auditor) (string, map[Scope]string) {
	t.Helper()
	secrets := map[Scope]string{}
	var tokens []Token
	for _, sc := range Scopes {
		sec, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		secrets[sc] = sec
		tokens = append(tokens, Token{Name: string(sc) + "-app", Scopes: []Scope{sc}, Hash: HashToken(sec)})
	}
	f := personalFakes{}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	_, base := serve(t, Options{Config: cfg, Tokens: tokens, Events: bus, Audit: au, Payments: f, Refunds: f, Records: f,
		Status: f, Queue: f, Reads: f, Cards: f, Medical: f, Face: f, Login: f})
	return base, secrets
}

// requestFor fills a route's path parameters and gives it a body its handler accepts.
func requestFor(route string) (method, path, body string) {
	method, path, _ = strings.Cut(route, " ")
	path = strings.NewReplacer("{id}", "0123456789abcdef01234567", "{no}", "R1").Replace(path)
	bodies := map[string]string{
		"POST /v1/payments":              `{"amount":100,"subject":"x"}`,
		"POST /v1/payments/{id}/settle":  `{"paid":true,"note":"n","operator":"op1"}`,
		"POST /v1/payments/{id}/refunds": `{"amount":1,"operator":"op1"}`,
		"POST /v1/records":               `{"type":"credential","record":{}}`,
		"POST /v1/card/read":             `{"iType":3}`,
		"POST /v1/card/hsm/step1":        `{"iType":3}`,
		"POST /v1/card/hsm/step2":        `{"session":"1","pKey":"00"}`,
		"POST /v1/medical/settle":        `{"accountPay":1,"selfPay":0,"fundPay":0,"pin":"123456"}`,
		"POST /v1/face":                  `{"readId":"0123456789abcdef01234567","image":"/9j/2wBDAP/Z"}`,
		"POST /v1/login":                 `{}`,
	}
	if b, ok := bodies[route]; ok {
		return method, path, b
	}
	if method == "POST" {
		return method, path, `{}`
	}
	return method, path, ""
}

func raw(t *testing.T, method, url, tok, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestScopesOnEveryRoute calls every route with every scope's token: a token without
// the route's scope gets 403 naming the scope it needs, one with it gets through; the
// gate token's answers never hold the holder, clear or masked.
func TestScopesOnEveryRoute(t *testing.T) {
	base, secrets := scopedServer(t, event.NewBus(0), audit.Open(t.TempDir()))
	s := &Server{}
	for route, rt := range s.routes() {
		if route == "GET /v1/events" {
			continue // a stream: TestGateEventsWithoutPersonalData
		}
		method, path, body := requestFor(route)
		for _, sc := range Scopes {
			code, b := raw(t, method, base+path, secrets[sc], body)
			allowed := slices.Contains(rt.scopes, sc)
			switch {
			case !allowed && code != http.StatusForbidden:
				t.Errorf("%s with a %s token: %d, want 403", route, sc, code)
			case !allowed && !strings.Contains(b, "needs scope"):
				t.Errorf("%s with a %s token: 403 without the scope it needs: %s", route, sc, b)
			case allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized || code >= 500):
				t.Errorf("%s with a %s token: %d %s", route, sc, code, b)
			}
			if sc == ScopeGate {
				for _, m := range personalMarks {
					if strings.Contains(b, m) {
						t.Errorf("%s gave the gate token %q: %s", route, m, b)
					}
				}
			}
		}
	}
	if code, _ := raw(t, "GET", base+"/v1/status", "not-a-token", ""); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", code)
	}
}

// readEvent reads the SSE stream at url until an event of kind arrives and returns
// its data line.
func readEvent(t *testing.T, url string, kind event.Kind) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	want := false
	for sc.Scan() {
		switch l := sc.Text(); {
		case l == "event: "+string(kind):
			want = true
		case want && strings.HasPrefix(l, "data: "):
			return l
		}
	}
	t.Fatalf("no %s event: %v", kind, sc.Err())
	return ""
}

// TestGateEventsWithoutPersonalData: the same replayed events reach a kiosk token with
// the holder masked and a gate token without the holder at all.
func TestGateEventsWithoutPersonalData(t *testing.T) {
	bus := event.NewBus(0)
	base, secrets := scopedServer(t, bus, audit.Open(t.TempDir()))
	bus.Publish(event.Event{Kind: "auth.succeeded", OK: true, Data: map[string]any{
		"idNumber": mask.IDNumber(holderID), "name": mask.Name(holderName), "cardNo": mask.BankCard("A12345678"),
		"readId": "0123456789abcdef01234567", "medium": "card"}})
	bus.Publish(event.Event{Kind: "login.ended", OK: true, Data: map[string]any{
		"idNumber": mask.IDNumber(holderID), "idType": "01", "name": mask.Name(holderName), "state": "authorised"}})
	for _, kind := range []event.Kind{"auth.succeeded", "login.ended"} {
		gate := readEvent(t, base+"/v1/events?since=0&access_token="+secrets[ScopeGate], kind)
		for _, m := range append(personalMarks, "idNumber", "readId", `"name"`, "cardNo") {
			if strings.Contains(gate, m) {
				t.Errorf("gate token's %s holds %q: %s", kind, m, gate)
			}
		}
		if !strings.Contains(gate, `"ok":true`) {
			t.Errorf("gate token lost the outcome: %s", gate)
		}
		kioskLine := readEvent(t, base+"/v1/events?since=0&access_token="+secrets[ScopeKiosk], kind)
		if !strings.Contains(kioskLine, mask.IDNumber(holderID)) || strings.Contains(kioskLine, holderID) {
			t.Errorf("kiosk token's %s: %s", kind, kioskLine)
		}
	}
}

// TestDisclosuresAudited: each answer with the holder in clear leaves one audit entry
// (token name, route, record, masked subject) before it is sent; the log holds no clear
// identity and verifies. When the log cannot be written nothing is disclosed.
func TestDisclosuresAudited(t *testing.T) {
	dir := t.TempDir()
	base, secrets := scopedServer(t, event.NewBus(0), audit.Open(dir))
	k := secrets[ScopeKiosk]
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/reads/0123456789abcdef01234567", ""},
		{"POST", "/v1/card/read", `{"iType":3}`},
		{"GET", "/v1/login/L1", ""},
		{"POST", "/v1/login", `{}`}, // waiting: no holder, no entry
	} {
		if code, b := raw(t, c.method, base+c.path, k, c.body); code >= 300 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, code, b)
		}
	}
	logBytes, err := os.ReadFile(filepath.Join(dir, audit.CurrentFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logBytes), holderID) || strings.Contains(string(logBytes), holderName) {
		t.Fatalf("the audit log holds the holder in clear:\n%s", logBytes)
	}
	rep, err := audit.VerifyDir(dir)
	if err != nil || rep.Entries != 3 {
		t.Fatalf("audit log: %+v %v\n%s", rep, err, logBytes)
	}
	var entries []audit.Entry
	for _, l := range strings.Split(strings.TrimSpace(string(logBytes)), "\n") {
		var e audit.Entry
		_ = json.Unmarshal([]byte(l), &e)
		entries = append(entries, e)
	}
	for i, want := range []struct{ endpoint, record string }{
		{"GET /v1/reads/{id}", "0123456789abcdef01234567"}, {"POST /v1/card/read", "R1"}, {"GET /v1/login/{id}", "L1"},
	} {
		e := entries[i]
		if e.Token != "kiosk-app" || e.Endpoint != want.endpoint || e.Record != want.record || e.Subject != mask.IDNumber(holderID) {
			t.Errorf("entry %d = %+v, want %s %s", i+1, e, want.endpoint, want.record)
		}
	}

	broken, secrets2 := scopedServer(t, event.NewBus(0), failingAudit{})
	code, b := raw(t, "GET", broken+"/v1/reads/0123456789abcdef01234567", secrets2[ScopeKiosk], "")
	if code != http.StatusServiceUnavailable || strings.Contains(b, holderName) || strings.Contains(b, "851X") {
		t.Fatalf("with the audit log failing: %d %s", code, b)
	}
}

type failingAudit struct{}

func (failingAudit) Append(e audit.Entry) (audit.Entry, error) { return e, errors.New("disk full") }

// TestLegacyTokenHasEveryScope: the deprecated single token still reaches every route.
func TestLegacyTokenHasEveryScope(t *testing.T) {
	_, base := start(t, Options{Payments: personalFakes{}, Refunds: personalFakes{}})
	for _, route := range []string{"POST /v1/payments/{id}/settle", "POST /v1/payments/{id}/refunds", "GET /v1/status"} {
		method, path, body := requestFor(route)
		if code, b := raw(t, method, base+path, token, body); code == http.StatusForbidden || code == http.StatusUnauthorized {
			t.Errorf("%s with the legacy token: %d %s", route, code, b)
		}
	}
}

// TestUnixSocket serves over a Unix socket with mode 0660; the token is still needed.
func TestUnixSocket(t *testing.T) {
	if os.PathSeparator == '\\' {
		t.Skip("no Unix socket listener on Windows")
	}
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "api.sock")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.Socket.Path = "127.0.0.1:0", path
	if _, err := listenSocket(path, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a regular file in the way: %v", err)
	}
	os.Remove(path)
	serve(t, Options{Config: cfg, Token: token})
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o660 || st.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket %s once listening: %v %v, want a socket with mode 0660", path, st, err)
	}
	for _, tc := range []struct {
		tok  string
		want int
	}{{"", 401}, {token, 200}} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://sscagent/v1/status", nil)
		if tc.tok != "" {
			req.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("over the socket with token %q: %d, want %d", tc.tok, resp.StatusCode, tc.want)
		}
	}
}

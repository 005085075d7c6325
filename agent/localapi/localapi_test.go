package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
)

const token = "t0ken-for-tests"

type fakePayments struct{ last PaymentRequest }

func (f *fakePayments) Create(_ context.Context, r PaymentRequest) (any, error) {
	f.last = r
	return map[string]any{"id": "T1-1", "state": "CREATED", "amount": r.Amount}, nil
}
func (f *fakePayments) Get(_ context.Context, id string) (any, error) {
	if id != "T1-1" {
		return nil, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return map[string]any{"id": id, "state": "SUCCESS"}, nil
}
func (f *fakePayments) Cancel(_ context.Context, id string) (any, error) {
	return nil, fmt.Errorf("order %s already paid: %w", id, ErrConflict)
}
func (f *fakePayments) List(_ context.Context, states []string, limit int) (any, error) {
	return map[string]any{"states": states, "limit": limit}, nil
}
func (f *fakePayments) Settle(_ context.Context, id string, r SettleRequest) (any, error) {
	return map[string]any{"id": id, "paid": *r.Paid, "note": r.Note}, nil
}

type fakeRecords struct {
	full    bool
	lastKey string
}

func (f *fakeRecords) Accept(_ context.Context, kind string, rec json.RawMessage, key string) (string, bool, error) {
	if f.full {
		return "", false, fmt.Errorf("queue at cap: %w", ErrFull)
	}
	if kind != "credential" {
		return "", false, &InvalidError{Fields: []FieldError{{Field: "type", Reason: "unknown"}}}
	}
	f.lastKey = key
	return "T1-000000000042", key == "seen", nil
}

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	o.Config = DefaultConfig()
	o.Config.Listen = "127.0.0.1:0"
	o.Token = token
	if o.Audit == nil {
		o.Audit = audit.Open(t.TempDir())
	}
	return serve(t, o)
}

// serve builds a server from o and runs it until the test ends; it returns the server
// and its base URL once it listens.
func serve(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr, err := s.Addr(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, "http://" + addr
}

func do(t *testing.T, method, url, tok, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestAuth(t *testing.T) {
	_, base := start(t, Options{})
	for _, tc := range []struct {
		tok  string
		want int
	}{{"", 401}, {"wrong", 401}, {token, 200}} {
		if code, _ := do(t, "GET", base+"/v1/status", tc.tok, ""); code != tc.want {
			t.Errorf("token %q: %d, want %d", tc.tok, code, tc.want)
		}
	}
	if code, _ := do(t, "GET", base+"/v1/status", token, "", "Origin", "http://evil.example"); code != 403 {
		t.Errorf("foreign origin: %d, want 403", code)
	}
}

func TestConfigLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		listen string
		ok     bool
	}{{"127.0.0.1:8765", true}, {"[::1]:1", true}, {"localhost:9", true}, {"0.0.0.0:8765", false}, {"192.168.1.5:80", false}, {"8765", false}} {
		c := Config{Listen: tc.listen, TokenFile: "x"}
		var ps config.Problems
		c.Validate("localapi", &ps)
		if (ps.Len() == 0) != tc.ok {
			t.Errorf("%s: problems %v", tc.listen, ps.List())
		}
	}
}

func TestRecords(t *testing.T) {
	rs := &fakeRecords{}
	_, base := start(t, Options{Records: rs})
	code, body := do(t, "POST", base+"/v1/records", token, `{"type":"credential","record":{"a":1}}`)
	if code != 202 || body["id"] != "T1-000000000042" {
		t.Fatalf("accepted record: %d %v", code, body)
	}
	code, body = do(t, "POST", base+"/v1/records", token, `{"type":"benefit","record":{}}`)
	e := body["error"].(map[string]any)
	if code != 422 || e["fields"] == nil || e["prompts"].(map[string]any)["code"] != "900001" {
		t.Fatalf("invalid record: %d %v", code, body)
	}
	if code, _ = do(t, "POST", base+"/v1/records", token, `{"type":"credential","record":{},"x":1}`); code != 400 {
		t.Fatalf("unknown field: %d", code)
	}
	big := `{"type":"credential","record":{"a":"` + strings.Repeat("x", MaxBody) + `"}}`
	if code, _ = do(t, "POST", base+"/v1/records", token, big); code != 413 {
		t.Fatalf("large body: %d", code)
	}
	// Idempotency-Key reaches the sink; a replay is marked in a header; a bad key is 422.
	if code, _ = do(t, "POST", base+"/v1/records", token, `{"type":"credential","record":{}}`, "Idempotency-Key", "k-1"); code != 202 || rs.lastKey != "k-1" {
		t.Fatalf("key: %d, sink got %q", code, rs.lastKey)
	}
	for _, k := range []string{"has space", strings.Repeat("k", 65)} {
		code, body = do(t, "POST", base+"/v1/records", token, `{"type":"credential","record":{}}`, "Idempotency-Key", k)
		if code != 422 || !strings.Contains(fmt.Sprint(body), "Idempotency-Key") {
			t.Fatalf("key %q: %d %v", k, code, body)
		}
	}
	for key, want := range map[string]string{"seen": "true", "new": ""} {
		req, _ := http.NewRequest("POST", base+"/v1/records", strings.NewReader(`{"type":"credential","record":{}}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 || resp.Header.Get("Idempotent-Replayed") != want {
			t.Fatalf("key %q: %d Idempotent-Replayed %q, want %q", key, resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), want)
		}
	}
	rs.full = true
	if code, body = do(t, "POST", base+"/v1/records", token, `{"type":"credential","record":{}}`); code != 507 {
		t.Fatalf("full: %d %v", code, body)
	}
}

func TestPayments(t *testing.T) {
	p := &fakePayments{}
	_, base := start(t, Options{Payments: p})
	code, body := do(t, "POST", base+"/v1/payments", token, `{"amount":1234,"subject":"挂号费"}`, "Idempotency-Key", "k-1")
	if code != 202 || body["id"] != "T1-1" || p.last.IdempotencyKey != "k-1" || p.last.Amount != 1234 {
		t.Fatalf("create: %d %v %+v", code, body, p.last)
	}
	code, body = do(t, "POST", base+"/v1/payments", token, `{"amount":0,"subject":""}`)
	if code != 422 || len(body["error"].(map[string]any)["fields"].([]any)) != 2 {
		t.Fatalf("invalid: %d %v", code, body)
	}
	if code, _ = do(t, "GET", base+"/v1/payments/T1-1", token, ""); code != 200 {
		t.Fatalf("get: %d", code)
	}
	if code, _ = do(t, "GET", base+"/v1/payments/nope", token, ""); code != 404 {
		t.Fatalf("get unknown: %d", code)
	}
	if code, _ = do(t, "POST", base+"/v1/payments/T1-1/cancel", token, ""); code != 409 {
		t.Fatalf("cancel paid: %d", code)
	}
	// The list: states from repeated or comma-separated parameters, upper-cased; a limit.
	code, body = do(t, "GET", base+"/v1/payments?state=needs_manual,SENT&state=FAILED&limit=7", token, "")
	if code != 200 || fmt.Sprint(body["states"]) != "[NEEDS_MANUAL SENT FAILED]" || body["limit"] != 7.0 {
		t.Fatalf("list: %d %v", code, body)
	}
	if code, body = do(t, "GET", base+"/v1/payments", token, ""); code != 200 || body["limit"] != 100.0 {
		t.Fatalf("list default: %d %v", code, body)
	}
	for _, q := range []string{"limit=0", "limit=501", "limit=x"} {
		if code, _ = do(t, "GET", base+"/v1/payments?"+q, token, ""); code != 422 {
			t.Fatalf("list %s: %d", q, code)
		}
	}
	// Settling: paid, a note and the operator are required.
	code, body = do(t, "POST", base+"/v1/payments/T1-9/settle", token, `{"paid":false,"note":"平台确认未扣款","operator":"op-01"}`)
	if code != 200 || body["id"] != "T1-9" || body["paid"] != false || body["note"] != "平台确认未扣款" {
		t.Fatalf("settle: %d %v", code, body)
	}
	code, body = do(t, "POST", base+"/v1/payments/T1-9/settle", token, `{"note":"  "}`)
	if code != 422 || len(body["error"].(map[string]any)["fields"].([]any)) != 3 {
		t.Fatalf("settle without paid, note and operator: %d %v", code, body)
	}
}

// TestEventStream reads the SSE stream over real HTTP, and checks replay from
// Last-Event-ID after a reconnect.
func TestEventStream(t *testing.T) {
	bus := event.NewBus(0)
	_, base := start(t, Options{Events: bus})
	bus.Publish(event.Event{Kind: "card.read", OK: true})
	req, _ := http.NewRequest("GET", base+"/v1/events?access_token="+token, nil)
	req.Header.Set("Last-Event-ID", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func(prefix string) string {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				return sc.Text()
			}
		}
		t.Fatalf("stream ended before %q: %v", prefix, sc.Err())
		return ""
	}
	if l := next("id: "); l != "id: 1" {
		t.Fatalf("replayed %q", l)
	}
	bus.Publish(event.Event{Kind: "gate.opened", OK: true})
	if l := next("id: "); l != "id: 2" {
		t.Fatalf("live id %q", l)
	}
	if l := next("event: "); l != "event: gate.opened" {
		t.Fatalf("live event %q", l)
	}
	if l := next("data: "); !strings.Contains(l, `"seq":2`) {
		t.Fatalf("data %q", l)
	}
}

package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/demo"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

func TestFormatEvent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		e     event.Event
		style demo.Style
		want  []string
		not   []string
	}{
		{"outcome", event.Event{Kind: "auth.succeeded", Scene: "gate", Source: "console", OK: true,
			Prompts: &prompt.Prompts{Code: "100100", Holder: "身份认证成功", Operator: "持卡人身份认证成功"},
			Data:    map[string]any{"name": mask.Name("张三"), "medium": "ecard"}},
			demo.Good, []string{"auth.succeeded [gate/console] ✔ 身份认证成功 | 经办: 持卡人身份认证成功 [100100]", "medium=ecard name=*三"}, nil},
		{"refusal", event.Event{Kind: "auth.rejected", Scene: "gate", Prompts: &prompt.Prompts{Code: "400103", Holder: "已挂失", Operator: "已挂失"}},
			demo.Bad, []string{"✘ 已挂失 [400103]"}, []string{"经办"}},
		{"infrastructure", event.Event{Kind: "reader.attached", Source: "R 00 00", OK: true,
			Prompts: &prompt.Prompts{Code: "100000", Holder: "业务办理成功"}, Data: map[string]any{"role": "holder"}},
			demo.Note, []string{"reader.attached [R 00 00]  role=holder"}, []string{"业务办理成功", "✔"}},
		{"infrastructure down", event.Event{Kind: "psam.removed", Source: "S", Prompts: &prompt.Prompts{Code: "100000"}},
			demo.Warn, []string{"psam.removed [S]"}, nil},
		{"values", event.Event{Kind: "x", OK: true, Data: map[string]any{"a": "two words", "n": 3, "m": map[string]int{"k": 1},
			"long": strings.Repeat("长", 200), "nil": nil}},
			demo.Note, []string{`a="two words"`, "n=3", `m={"k":1}`, "long=" + strings.Repeat("长", 95) + "…"}, []string{"nil="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, s := demo.FormatEvent(tc.e)
			if s != tc.style {
				t.Errorf("style %d, want %d", s, tc.style)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("%q holds %q", got, w)
				}
			}
		})
	}
}

func TestConsoleLines(t *testing.T) {
	var b strings.Builder
	c := demo.NewConsole(&b, false)
	c.Line("gate", demo.Good, "opened\nfor %s", "x")
	if got := b.String(); !strings.HasSuffix(got, " gate    opened for x\n") || strings.Contains(got, "\x1b") {
		t.Errorf("plain line %q", got)
	}
	b.Reset()
	c.Line("x", demo.Plain, "%s", "evil\x1b[2Jreason\u009b\x07")
	if got := b.String(); strings.ContainsRune(got, 0x1b) || strings.ContainsRune(got, 0x9b) || strings.ContainsRune(got, 7) ||
		!strings.Contains(got, "evil\uFFFD[2Jreason\uFFFD\uFFFD") {
		t.Errorf("control characters passed: %q", got)
	}
	b.Reset()
	demo.NewConsole(&b, true).Line("gate", demo.Bad, "no")
	if got := b.String(); !strings.Contains(got, "\x1b[31mgate    no\x1b[0m") {
		t.Errorf("coloured line %q", got)
	}
}

const credentialJSON = `{"accessNo":"350100000001","credentialType":"电子社会保障卡二维码扫码认证","regionCode":"350100",
"scene":"人力资源和社会保障应用/个人凭社会保障卡就业登记","institutionName":"示例市人力资源和社会保障局",
"authTime":"2026-11-24 09:00:00","businessTime":"2026-11-24 09:00:00","socialSecurityNo":"350102199003077898","name":"张三"}`

func TestLedgerWatch(t *testing.T) {
	w := demo.NewLedgerWatch()
	t0 := time.Now()
	l := platformsim.Ledger{Records: map[string]platformsim.LedgerRecord{
		"T-2": {Kind: "credential", Record: json.RawMessage(credentialJSON), Received: 1, FirstAt: t0.Add(time.Second)},
		"T-1": {Kind: "credential", Record: json.RawMessage(credentialJSON), Received: 1, FirstAt: t0},
	}, Payments: map[string]platformsim.LedgerPayment{
		"c/O-1": {OrderNo: "O-1", State: "USERPAYING", Amount: "1200.00", Payer: mask.IDNumber("350103197001011235")},
	}}
	lines := w.Diff(l)
	if len(lines) != 3 || !strings.Contains(lines[0].Text, "T-1") || !strings.Contains(lines[1].Text, "T-2") ||
		!strings.Contains(lines[2].Text, "O-1 USERPAYING ¥1200.00") {
		t.Fatalf("first diff %+v", lines)
	}
	for _, ln := range lines {
		if strings.Contains(ln.Text, "350102199003077898") || strings.Contains(ln.Text, "张三") {
			t.Errorf("clear personal data in %q", ln.Text)
		}
	}
	if lines := w.Diff(l); len(lines) != 0 {
		t.Fatalf("unchanged ledger gave %+v", lines)
	}
	r := l.Records["T-1"]
	r.Received, r.Duplicates = 2, 1
	l.Records["T-1"] = r
	l.RejectedRecords = []platformsim.RejectedRecord{{RecordID: "T-3", Kind: "payment", Reason: "bad amount"}}
	p := l.Payments["c/O-1"]
	p.State = "SUCCESS"
	l.Payments["c/O-1"] = p
	lines = w.Diff(l)
	if len(lines) != 3 || lines[0].Style != demo.Warn || !strings.Contains(lines[0].Text, "de-duplicated (1 duplicate(s))") ||
		lines[1].Style != demo.Bad || !strings.Contains(lines[1].Text, "T-3 (payment): bad amount") ||
		!strings.Contains(lines[2].Text, "O-1 SUCCESS") {
		t.Fatalf("second diff %+v", lines)
	}
}

func TestDescribeRecord(t *testing.T) {
	got := demo.DescribeRecord("credential", json.RawMessage(credentialJSON))
	if want := "C.3 办事凭证 *三 **************7898 电子社会保障卡二维码扫码认证"; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want prefix %q", got, want)
	}
	if got := demo.DescribeRecord("credential", json.RawMessage(`{"socialSecurityNo":"350102199003077898"}`)); !strings.Contains(got, "unreadable") ||
		strings.Contains(got, "350102199003077898") {
		t.Errorf("invalid record: %q", got)
	}
	if _, err := records.Parse(records.KindCredential, json.RawMessage(credentialJSON)); err != nil {
		t.Fatalf("the test record is invalid: %v", err)
	}
}

func TestFormatMgmt(t *testing.T) {
	now := time.Now()
	s, st := demo.FormatState(mgmt.State{Status: mgmt.StatusOnline, Epoch: 3, StartedAt: &now,
		Terminal: &mgmt.Registration{ID: "T1", DeviceType: "kiosk", Site: "大厅"}, Scenes: []mgmt.Scene{{Name: "g", Kind: "identity"}}})
	if st != demo.Accent || !strings.Contains(s, "● online: birth T1 kiosk 大厅, epoch 3, scenes g(identity)") {
		t.Errorf("birth %q", s)
	}
	if s, st := demo.FormatState(mgmt.State{Status: mgmt.StatusOffline, Reason: mgmt.ReasonConnectionLost, Epoch: 3}); st != demo.Warn ||
		s != "○ offline (connection-lost), epoch 3" {
		t.Errorf("death %q", s)
	}
	tel := mgmt.Telemetry{Health: mgmt.Health{Status: mgmt.HealthDegraded, Problems: []string{"platform unreachable"}},
		Devices: mgmt.Devices{Readers: []mgmt.Reader{{Name: "R", Role: "holder", Card: true}, {Name: "S", Role: "psam", Card: true}},
			Queue: &mgmt.Queue{Depth: 4, Quarantined: 1}, Platform: &mgmt.Platform{}},
		Process: mgmt.Process{CPUPercent: 0.25, RSSBytes: 30 << 20, Goroutines: 40}}
	s, st = demo.FormatTelemetry(tel)
	for _, w := range []string{"degraded (platform unreachable)", "readers 2 (1 with a card)", "queue 4 (1 quarantined)",
		"platform DOWN", "cpu 0.2% rss 30.0 MiB, 40 goroutines"} {
		if !strings.Contains(s, w) {
			t.Errorf("telemetry %q lacks %q", s, w)
		}
	}
	if st != demo.Warn {
		t.Errorf("degraded telemetry style %d", st)
	}
}

func TestPrepareDir(t *testing.T) {
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "thesis.tex"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.PrepareDir(foreign, false); err == nil || !strings.Contains(err.Error(), "not made by the demo") {
		t.Fatalf("a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "thesis.tex")); err != nil {
		t.Fatalf("a foreign file was touched: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "d")
	if _, err := demo.PrepareDir(dir, false); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "state")
	if err := os.Mkdir(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.PrepareDir(dir, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("keep removed the state: %v", err)
	}
	if _, err := demo.PrepareDir(dir, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("an earlier demo's state survived: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, demo.MarkerFile)); err != nil {
		t.Fatalf("no marker: %v", err)
	}
}

// recorder is a scanner that remembers the codes it was handed.
type recorder struct {
	mu    sync.Mutex
	codes []string
}

func (r *recorder) scan(code string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes = append(r.codes, code)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.codes
	r.codes = nil
	return c
}

func TestRouting(t *testing.T) {
	var gate, counter recorder
	c := &demo.Controls{Console: demo.NewConsole(io.Discard, false), Scan: gate.scan, PayScan: counter.scan}
	ctx := context.Background()
	c.Handle(ctx, "  CODE-1  ")
	c.Handle(ctx, "::colon")
	c.Handle(ctx, "")
	if got := gate.take(); strings.Join(got, ",") != "CODE-1,:colon" {
		t.Fatalf("gate got %q", got)
	}
	order := func(kind, state string) event.Event {
		return event.Event{Kind: event.Kind(kind), Scene: demo.ScenePOS, Data: map[string]any{"orderNo": "O-1", "state": state}}
	}
	c.Observe(order("payment.created", "CREATED"))
	c.Handle(ctx, "PAY-1")
	c.Handle(ctx, "PAY-2") // a code the agent ignored: the order still waits
	if got := counter.take(); strings.Join(got, ",") != "PAY-1,PAY-2" || len(gate.take()) != 0 {
		t.Fatalf("counter got %q while the order waited", got)
	}
	c.Observe(order("payment.sent", "SENT"))
	c.Handle(ctx, "CODE-2")
	if got := gate.take(); strings.Join(got, ",") != "CODE-2" || len(counter.take()) != 0 {
		t.Fatalf("after the order moved on the gate got %q", got)
	}
	c.Observe(order("payment.created", "CREATED"))
	c.Observe(event.Event{Kind: "payment.expired", Scene: demo.ScenePOS, Data: map[string]any{"orderNo": "O-1", "state": "CREATED"}})
	c.Handle(ctx, "CODE-3")
	if got := gate.take(); strings.Join(got, ",") != "CODE-3" {
		t.Fatalf("after the order expired the gate got %q", got)
	}
}

// TestHeldPayment: without a counter scanner, :pay holds the amount and the next code
// goes in the local API request, with the bearer token.
func TestHeldPayment(t *testing.T) {
	var gate recorder
	got := make(chan map[string]any, 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/v1/payments" {
			http.Error(w, `{"error":{"message":"no"}}`, http.StatusUnauthorized)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"orderNo":"O-9","state":"SUCCESS"}`))
	}))
	defer api.Close()
	var out strings.Builder
	var mu sync.Mutex
	c := &demo.Controls{Console: demo.NewConsole(lockedWriter{&mu, &out}, false), Scan: gate.scan, Token: "tok",
		API: func() string { return strings.TrimPrefix(api.URL, "http://") }}
	ctx := context.Background()
	c.Handle(ctx, ":pay 0")
	c.Handle(ctx, ":pay 1.234")
	c.Handle(ctx, ":pay 12.5 感冒 药")
	c.Handle(ctx, "PAYCODE")
	select {
	case b := <-got:
		if b["amount"] != float64(1250) || b["subject"] != "感冒 药" || b["code"] != "PAYCODE" {
			t.Fatalf("request %v", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no request")
	}
	if len(gate.take()) != 0 {
		t.Fatal("the payment code went to the gate")
	}
	c.Handle(ctx, "NEXT")
	if got := gate.take(); len(got) != 1 {
		t.Fatalf("the code after the payment: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(out.String(), "amount "); n != 2 {
		t.Errorf("%d refusals of bad amounts, want 2:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "order O-9 ¥12.50") {
		t.Errorf("no order line:\n%s", out.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// FuzzHandle: any console line is either a command (answered without a panic, even
// with nothing attached) or a code handed to the gate's scanner exactly as typed
// (trimmed; "::" escapes a leading ':').
func FuzzHandle(f *testing.F) {
	for _, s := range []string{"", "CODE", ":", "::x", ":insert", ":insert 张三", ":qr", ":qr 王五", ":pay", ":pay -1",
		":pay 99999999999999", ":fault", ":fault clear", ":fault x:y:z", ":ledger", ":queue", ":status", ":help", ":quit",
		" : pay 1", "\x00", ":PAY 1 2 3", ":medical", ":medical 张三 1,2,3 123456", ":medical 王五 1 1234", ":medical zhangsan 0,0 1234",
		":medical zhangsan 1,2,3,4 1234", ":refund", ":refund X 1", ":refund X -1 why"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var gate recorder
		c := &demo.Controls{Console: demo.NewConsole(io.Discard, false), Scan: gate.scan, Quit: func() {}}
		c.Handle(context.Background(), line)
		got := gate.take()
		want := strings.TrimSpace(line)
		switch {
		case want == "":
			if len(got) != 0 {
				t.Fatalf("empty line scanned %q", got)
			}
		case strings.HasPrefix(want, "::"):
			if len(got) != 1 || got[0] != want[1:] {
				t.Fatalf("escaped line %q scanned as %q", line, got)
			}
		case strings.HasPrefix(want, ":"):
			if len(got) != 0 {
				t.Fatalf("command %q scanned %q", line, got)
			}
		default:
			if len(got) != 1 || got[0] != want {
				t.Fatalf("line %q scanned as %q", line, got)
			}
		}
	})
}

// TestInsertRefusesNonProfiles: a path that is not a small regular file is refused
// before it is read (":insert /dev/zero" would read forever).
func TestInsertRefusesNonProfiles(t *testing.T) {
	var out strings.Builder
	var mu sync.Mutex
	hub := simreader.New(readers.SimCardReader)
	c := &demo.Controls{Console: demo.NewConsole(lockedWriter{&mu, &out}, false), Hub: func() *simreader.Hub { return hub }}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, 65<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{"/dev/zero", t.TempDir(), big, "/nonexistent/x.yaml", "nobody"} {
		c.Handle(context.Background(), ":insert "+arg)
	}
	c.Handle(context.Background(), ":insert lisi")
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(out.String(), "no such card"); n != 5 {
		t.Errorf("%d refusals, want 5:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "inserted *四's card") {
		t.Errorf("李四's card not inserted:\n%s", out.String())
	}
}

// TestMedicalAndRefundUsage: malformed :medical and :refund lines are answered with
// what is wrong and reach neither the readers nor the local API; the medical counter's
// reader is driver sim's second holder reader.
func TestMedicalAndRefundUsage(t *testing.T) {
	if demo.MedicalReader != readers.SimHolderReader(1) || readers.SimHolderReader(0) != readers.SimCardReader {
		t.Fatalf("medical reader %q, sim's second holder reader %q", demo.MedicalReader, readers.SimHolderReader(1))
	}
	var out strings.Builder
	var mu sync.Mutex
	hub := simreader.New(readers.SimCardReader, demo.MedicalReader)
	calls := 0
	c := &demo.Controls{Console: demo.NewConsole(lockedWriter{&mu, &out}, false), Hub: func() *simreader.Hub { return hub },
		API: func() string { calls++; return "" }}
	for line, want := range map[string]string{
		":medical":                         "usage: :medical",
		":medical 王五 1 123456":             "has no physical card",
		":medical zhangsan 0,0 123456":     "add up to nothing",
		":medical zhangsan 1,2,3,4 123456": "at most three",
		":medical zhangsan 1.234 123456":   `amount "1.234"`,
		":medical zhangsan 1,-2 123456":    `amount "-2"`,
		":refund":                          "usage: :refund",
		":refund SSC-1 0":                  `amount "0"`,
		":refund SSC-1 abc":                `amount "abc"`,
	} {
		mu.Lock()
		out.Reset()
		mu.Unlock()
		c.Handle(context.Background(), line)
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if !strings.Contains(got, want) || strings.Contains(got, "inserted") {
			t.Errorf("%s: %q, want %q and no card inserted", line, got, want)
		}
	}
	if calls != 0 {
		t.Errorf("the local API was called %d times", calls)
	}
}

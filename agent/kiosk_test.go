package agent_test

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
)

// TestMedicalScene is 7.2.5 and 7.2.6 with a settlement application: a card read with
// PSAM authentication and the platform's card authentication is handed to the
// application (the national 11-field string, in clear, at GET /v1/reads/{id}); an
// e-card code is decoded for it; an NHSA e-voucher is passed on as scanned; the
// application's C.4 record comes back through POST /v1/records and reaches the platform.
func TestMedicalScene(t *testing.T) {
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("counter", pty.Agent) + `    classify:
      rules:
        - {class: nhsa, prefix: "NHSA"}
        - {class: essc, prefix: "ESSC"}
`, Scenes: `  - name: pharmacy
    kind: medical
    readers: ["*"]
    scanners: [counter]
    ecardBusinessType: "02"
`})
	r.a.Cards().WaitReady(t.Context())
	insert(t, r, "lisi")
	auth := r.expect("auth.succeeded", nil)
	if auth.Prompts.Code != "100106" || auth.Data["readId"] == "" {
		t.Fatalf("auth.succeeded %+v %v", auth.Prompts, auth.Data)
	}
	if n := r.count("record.queued", nil); n != 0 {
		t.Errorf("a medical scene recorded %d records itself; the settlement application does", n)
	}
	code, read := r.call("GET", fmt.Sprintf("/v1/reads/%s", auth.Data["readId"]), nil)
	if code != http.StatusOK {
		t.Fatalf("read: %d %v", code, read)
	}
	line, _ := read["iReadCardBas"].(string)
	if !strings.HasPrefix(line, "350100|350121198511160027|D20000029|350100D15600000520000002") || strings.Count(line, "|") != 11 {
		t.Errorf("iReadCardBas = %q", line)
	}
	if c, _ := read["card"].(map[string]any); c["name"] != "李四" || c["authenticated"] != true || c["authBy"] != "psam" {
		t.Errorf("card = %v", read["card"])
	}

	seq := r.lastSeq()
	scan(pty, issue(t, r, wangwu))
	auth = r.expect("auth.succeeded", after(seq, nil))
	_, read = r.call("GET", fmt.Sprintf("/v1/reads/%s", auth.Data["readId"]), nil)
	if e, _ := read["ecard"].(map[string]any); e["socialSecurityNo"] != wangwu || e["paymentEnabled"] != true {
		t.Errorf("e-card read = %v", read)
	}

	seq = r.lastSeq()
	scan(pty, "NHSA0123456789ABCDEF")
	v := r.expect("voucher.scanned", after(seq, nil))
	_, read = r.call("GET", fmt.Sprintf("/v1/reads/%s", v.Data["readId"]), nil)
	if read["voucher"] != "NHSA0123456789ABCDEF" || read["medium"] != "nhsa" {
		t.Errorf("voucher read = %v", read)
	}
	if code, e := r.call("GET", "/v1/reads/0123456789abcdef01234567", nil); code != http.StatusNotFound ||
		!strings.Contains(fmt.Sprint(e), "100120") {
		t.Errorf("unknown read: %d %v", code, e)
	}

	// The settlement application's C.4 record.
	c4 := map[string]any{"accessNo": "350100000001", "regionCode": "350100", "cardType": "实体社会保障卡",
		"paymentScene": "03", "amount": "36.50", "paidTime": "2026-01-05 10:20:30", "settlementMethod": "03",
		"settlementType": "04", "payerSocialSecurityNo": "350121198511160027", "payerName": "李四"}
	code, ans := r.call("POST", "/v1/records", map[string]any{"type": "payment", "record": c4}, "Idempotency-Key", "settle-0001")
	if code != http.StatusAccepted || ans["status"] != "queued" {
		t.Fatalf("POST /v1/records: %d %v", code, ans)
	}
	// The application did not hear the answer and sends it again: same id, not stored twice.
	if code, again := r.call("POST", "/v1/records", map[string]any{"type": "payment", "record": c4}, "Idempotency-Key", "settle-0001"); code != http.StatusAccepted || again["id"] != ans["id"] {
		t.Fatalf("retried POST /v1/records: %d %v, want the id %v", code, again, ans["id"])
	}
	other := maps.Clone(c4)
	other["amount"] = "36.60"
	if code, e := r.call("POST", "/v1/records", map[string]any{"type": "payment", "record": other}, "Idempotency-Key", "settle-0001"); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(e), "610008") {
		t.Fatalf("the key reused for another record: %d %v, want 409 with 610008", code, e)
	}
	_, got := waitLedger(t, r.sb, "the application's C.4", func(id string, _ map[string]string) bool { return id == ans["id"] })
	if got["settlementMethod"] != "实体社会保障卡刷卡结算" || got["amount"] != "36.50" {
		t.Errorf("stored %v", got)
	}
}

// TestKioskScene: the kiosk application sees every event and decides; the agent reads
// and authenticates, records nothing and opens nothing itself.
func TestKioskScene(t *testing.T) {
	r := newRig(t, rigOptions{Scenes: "  - name: kiosk\n    kind: kiosk\n    readers: [\"*\"]\n"})
	r.a.Cards().WaitReady(t.Context())
	// The kiosk page's event stream, as a browser's EventSource opens it.
	resp, err := http.Get(r.base + "/v1/events?access_token=" + testToken)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("event stream: %v %v", resp, err)
	}
	defer resp.Body.Close()
	streamed := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				streamed <- k
			}
		}
		close(streamed)
	}()
	insert(t, r, "zhangsan")
	r.expect("card.inserted", nil)
	r.expect("card.read", func(e event.Event) bool { return e.OK })
	auth := r.expect("auth.succeeded", nil)
	if _, read := r.call("GET", fmt.Sprintf("/v1/reads/%s", auth.Data["readId"]), nil); read["medium"] != "card" {
		t.Errorf("read %v", read)
	}
	for got := false; !got; {
		select {
		case k, ok := <-streamed:
			if !ok {
				t.Fatal("the event stream ended before auth.succeeded")
			}
			got = k == "auth.succeeded"
		case <-time.After(10 * time.Second):
			t.Fatal("no auth.succeeded on the event stream")
		}
	}
	seq := r.lastSeq()
	insert(t, r, "zhaoliu")
	r.expect("auth.rejected", after(seq, nil))
	if r.count("record.queued", nil)+r.count("gate.opened", nil) != 0 {
		t.Error("a kiosk scene recorded or opened by itself")
	}
}

// TestLocalAPIErrors: the token, the door checks of records (every field with its rule)
// and the statuses of the payment errors.
func TestLocalAPIErrors(t *testing.T) {
	r := newRig(t, rigOptions{Scenes: "  - name: kiosk\n    kind: kiosk\n    readers: [\"*\"]\n"})
	req, _ := http.NewRequest("GET", r.base+"/v1/status", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	code, st := r.call("GET", "/v1/status", nil)
	if code != http.StatusOK || fmt.Sprint(st["terminal"]) == "" || st["platform"] == nil {
		t.Fatalf("status: %d %v", code, st)
	}
	if term, _ := st["terminal"].(map[string]any); term["id"] != "SSC-E2E-0001" {
		t.Errorf("status terminal %v", st["terminal"])
	}

	bad := map[string]any{"accessNo": "0101", "regionCode": "350100", "cardType": "电子社会保障卡",
		"paymentScene": "02", "amount": "1.001", "paidTime": "2026-01-05 10:20:30", "settlementMethod": "01",
		"settlementType": "99", "payerSocialSecurityNo": "350102199003077899"}
	code, e := r.call("POST", "/v1/records", map[string]any{"type": "payment", "record": bad})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid record: %d %v", code, e)
	}
	body := fmt.Sprint(e)
	for _, want := range []string{"record.accessNo", "n12", "record.amount", "record.payerSocialSecurityNo", "GB 11643",
		"record.settlementType", "C.10", "600001"} {
		if !strings.Contains(body, want) {
			t.Errorf("422 body lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "350102199003077899") {
		t.Error("the 422 answer repeats the ID number")
	}
	if code, _ := r.call("POST", "/v1/records", map[string]any{"type": "event", "record": map[string]any{}}); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown type: %d", code)
	}
	if code, _ := r.call("GET", "/v1/payments/SSC-E2E-0001-0000000000000001", nil); code != http.StatusNotFound {
		t.Errorf("unknown order: %d", code)
	}
	if code, e := r.call("POST", "/v1/payments", map[string]any{"amount": 1, "subject": "x"}); code != http.StatusUnprocessableEntity ||
		!strings.Contains(fmt.Sprint(e), "100116") {
		t.Errorf("payment without a payment scene: %d %v", code, e)
	}
	code, q := r.call("GET", "/v1/queue", nil)
	if code != http.StatusOK || q["queue"] == nil || q["backflow"] == nil || q["payments"] == nil {
		t.Errorf("queue: %d %v", code, q)
	}
}

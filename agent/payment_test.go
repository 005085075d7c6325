package agent_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
)

const (
	wangwu   = "350103197001011235" // e-card holder with payment, 300.00
	zhangsan = "350102199003077898" // e-card holder with payment, 5000.00
)

var reOrderNo = regexp.MustCompile(`^SSC-E2E-0001-[0-9]{16}$`)

func paymentScenes(extra string) string {
	return `  - name: pos
    kind: payment
    scanners: [front]
    label: "03/门诊缴费"
    payment:
      settlementType: "03"
      codeTimeout: 1s
      merchantName: 示例医院
      merchantId: "102142"
  - name: qr
    kind: payment
    label: "03"
    payment:
      method: merchant-qr
` + extra
}

func newPayRig(t *testing.T) (*rig, *labtest.Pair) {
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("front", pty.Agent), Scenes: paymentScenes(""),
		Sandbox: platformsim.Options{UserPaying: 20 * time.Second}})
	r.expect("scanner.connected", nil)
	return r, pty
}

// order waits for the payment event of kind for order no.
func (r *rig) order(kind event.Kind, no string) event.Event {
	r.t.Helper()
	return r.expect(kind, dataIs("orderNo", no))
}

// ledgerPayment returns the sandbox's view of an order.
func ledgerPayment(r *rig, no string) platformsim.LedgerPayment {
	return r.sb.Ledger().Payments[platformsim.DefaultChannel+"/"+no]
}

// simPost calls a sandbox control endpoint.
func simPost(t *testing.T, sb *platformsim.Sandbox, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(sb.URL(false)+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", path, resp.Status)
	}
}

// TestPaymentScan is 7.2.3 被扫 end to end: an amount from the local API, the holder's
// code from the scanner, the order paid once, its C.4 record in the platform's ledger.
func TestPaymentScan(t *testing.T) {
	r, pty := newPayRig(t)

	code, o := r.call("POST", "/v1/payments", map[string]any{"amount": 1250, "subject": "挂号费", "scene": "pos"})
	if code != http.StatusAccepted || o["state"] != "CREATED" || o["waitingForCode"] != true {
		t.Fatalf("create: %d %v", code, o)
	}
	no := o["id"].(string)
	if !reOrderNo.MatchString(no) || o["orderNo"] != no {
		t.Fatalf("order number %q", no)
	}
	// A second order on the same scene while one waits is refused.
	if code, e := r.call("POST", "/v1/payments", map[string]any{"amount": 1, "subject": "x", "scene": "pos"}); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(e), "100119") {
		t.Fatalf("second waiting order: %d %v", code, e)
	}
	scan(pty, issue(t, r, wangwu))
	r.order("payment.sent", no)
	r.order("payment.succeeded", no)
	rec := r.order("payment.recorded", no)
	_, c4 := waitLedger(t, r.sb, "the C.4 record", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	want := map[string]string{"$kind": "payment", "businessSerialNo": no, "amount": "12.50", "cardType": "电子社会保障卡",
		"settlementMethod": "电子社会保障卡展码被扫支付", "settlementType": "门诊支付", "payerSocialSecurityNo": wangwu,
		"payerName": "王五", "paymentScene": "就医购药应用/门诊缴费", "merchantName": "示例医院", "merchantId": "102142",
		"orderDescription": "挂号费", "terminalInfo": "Test Terminals Co. E-2", "accessNo": "350100000001"}
	for k, v := range want {
		if c4[k] != v {
			t.Errorf("C.4 %s = %q, want %q", k, c4[k], v)
		}
	}
	if lp := ledgerPayment(r, no); lp.State != "SUCCESS" || lp.Amount != "12.50" {
		t.Errorf("ledger: %+v", lp)
	}
	if b := r.sb.Balance(wangwu); b != "287.50" {
		t.Errorf("balance %s, want 287.50", b)
	}
	_, got := r.call("GET", "/v1/payments/"+no, nil)
	if got["state"] != "SUCCESS" || got["recorded"] != true || got["tradeNo"] == "" {
		t.Errorf("GET order: %v", got)
	}
	if code, e := r.call("POST", "/v1/payments/"+no+"/cancel", nil); code != http.StatusConflict {
		t.Errorf("cancel of a paid order: %d %v", code, e)
	}

	// A code with no order waiting is not sent anywhere.
	seq := r.lastSeq()
	scan(pty, issue(t, r, wangwu))
	if e := r.expect("scan.ignored", after(seq, nil)); e.Prompts.Code != "100104" {
		t.Errorf("scan without order: %+v", e.Prompts)
	}

	// No code in time: the order is cancelled, nothing charged.
	_, o = r.call("POST", "/v1/payments", map[string]any{"amount": 100, "subject": "超时", "scene": "pos"})
	no = o["id"].(string)
	r.order("payment.expired", no)
	if e := r.order("payment.cancelled", no); e.Prompts.Code != "500008" {
		t.Errorf("expired order: %+v", e.Prompts)
	}
	if _, ok := r.sb.Ledger().Payments[platformsim.DefaultChannel+"/"+no]; ok {
		t.Error("an order that never had a code reached the platform")
	}
}

// TestPaymentOutcomes drives the closed loop through the platform's outcomes: the
// holder confirming (USERPAYING, then SUCCESS), a lost answer (UNKNOWN, query,
// SUCCESS, charged once), a cashier cancel while the holder confirms (reversed, with
// one recall), a refused reversal (NEEDS_MANUAL), the application sending the code
// itself, and idempotent retries.
func TestPaymentOutcomes(t *testing.T) {
	r, _ := newPayRig(t)
	pay := func(amount int, payer string, hdr ...string) string {
		t.Helper()
		code, o := r.call("POST", "/v1/payments", map[string]any{"amount": amount, "subject": "测试", "scene": "pos",
			"code": issue(t, r, payer)}, hdr...)
		if code != http.StatusAccepted || o["state"] != "SENT" {
			t.Fatalf("pay: %d %v", code, o)
		}
		return o["id"].(string)
	}

	// USERPAYING until the holder confirms on the phone.
	no := pay(150000, zhangsan)
	r.order("payment.checking", no)
	simPost(t, r.sb, "/_sim/pay/confirm", map[string]string{"channelNo": platformsim.DefaultChannel, "orderNo": no})
	r.order("payment.succeeded", no)
	r.order("payment.recorded", no)

	// The pay answer is lost after the platform charged: queried, never paid twice.
	f, _ := platformsim.ParseFault("micropay:dropAfter:count=1")
	if err := r.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
	before := r.sb.Balance(wangwu)
	no = pay(2000, wangwu)
	r.order("payment.checking", no)
	r.order("payment.succeeded", no)
	r.order("payment.recorded", no)
	if after := r.sb.Balance(wangwu); before != "300.00" || after != "280.00" {
		t.Errorf("balance %s -> %s, want 300.00 -> 280.00", before, after)
	}

	// The cashier cancels while the holder confirms: reversed (after one recall).
	f, _ = platformsim.ParseFault("reverse:recall:count=1")
	if err := r.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
	no = pay(150000, zhangsan)
	r.order("payment.checking", no)
	if code, o := r.call("POST", "/v1/payments/"+no+"/cancel", nil); code != http.StatusAccepted || o["cancelRequested"] != true {
		t.Fatalf("cancel: %d %v", code, o)
	}
	r.order("payment.reversing", no)
	if e := r.order("payment.reversed", no); e.Prompts.Code != "500005" {
		t.Errorf("reversed: %+v", e.Prompts)
	}
	if lp := ledgerPayment(r, no); lp.State != "CLOSED" {
		t.Errorf("ledger after reversal: %+v", lp)
	}

	// The platform refuses the reversal: a person settles it; no C.4 is made by itself.
	f, _ = platformsim.ParseFault("reverse:msgCode:code=300006:count=10")
	if err := r.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
	no = pay(150000, zhangsan)
	r.order("payment.checking", no)
	r.call("POST", "/v1/payments/"+no+"/cancel", nil)
	if e := r.order("payment.needs-manual", no); e.Prompts.Code != "500007" {
		t.Errorf("needs manual: %+v", e.Prompts)
	}
	r.sb.ClearFaults()
	if _, ok := r.await("payment.recorded", dataIs("orderNo", no), 300*time.Millisecond); ok {
		t.Error("a NEEDS_MANUAL order was recorded as paid")
	}
	// The person finds it in the list, checks with the platform and settles it.
	code, list := r.call("GET", "/v1/payments?state=NEEDS_MANUAL", nil)
	if ps, _ := list["payments"].([]any); code != http.StatusOK || len(ps) != 1 || ps[0].(map[string]any)["id"] != no {
		t.Fatalf("NEEDS_MANUAL list: %d %v", code, list)
	}
	if _, q := r.call("GET", "/v1/queue", nil); fmt.Sprint(q["payments"].(map[string]any)["needsManual"]) != "1" {
		t.Errorf("queue stats before settling: %v", q["payments"])
	}
	if code, e := r.call("GET", "/v1/payments?state=PAID", nil); code != http.StatusUnprocessableEntity {
		t.Errorf("unknown state: %d %v", code, e)
	}
	code, settled := r.call("POST", "/v1/payments/"+no+"/settle", map[string]any{"paid": false, "note": "平台对账单 2026-11-24：未扣款", "operator": "op-07"})
	if code != http.StatusOK || settled["state"] != "NEEDS_MANUAL" || settled["settled"].(map[string]any)["paid"] != false {
		t.Fatalf("settle: %d %v", code, settled)
	}
	if e := r.order("payment.settled", no); !e.OK || e.Prompts.Code != "500010" || e.Data["operator"] != "op-07" {
		t.Errorf("settled event: %+v", e)
	}
	if _, q := r.call("GET", "/v1/queue", nil); fmt.Sprint(q["payments"].(map[string]any)["needsManual"]) != "0" {
		t.Errorf("queue stats after settling: %v", q["payments"])
	}
	if code, e := r.call("POST", "/v1/payments/"+no+"/settle", map[string]any{"paid": true, "note": "改判", "operator": "op-07"}); code != http.StatusConflict {
		t.Errorf("settled the other way: %d %v", code, e)
	}

	// Idempotency-Key: a retried request returns the same order; other contents: 409.
	c := issue(t, r, zhangsan)
	body := map[string]any{"amount": 300, "subject": "重试", "scene": "pos", "code": c}
	_, o1 := r.call("POST", "/v1/payments", body, "Idempotency-Key", "k-1")
	_, o2 := r.call("POST", "/v1/payments", body, "Idempotency-Key", "k-1")
	if o1["id"] != o2["id"] {
		t.Fatalf("retry created a second order: %v %v", o1["id"], o2["id"])
	}
	body["amount"] = 301
	if code, _ := r.call("POST", "/v1/payments", body, "Idempotency-Key", "k-1"); code != http.StatusConflict {
		t.Errorf("key reused for another amount: %d", code)
	}
	r.order("payment.succeeded", o1["id"].(string))

	// A code submitted before is never submitted again.
	if code, e := r.call("POST", "/v1/payments", map[string]any{"amount": 5, "subject": "x", "scene": "pos", "code": c}); code != http.StatusConflict ||
		!strings.Contains(fmt.Sprint(e), "500009") {
		t.Errorf("reused code: %d %v", code, e)
	}
	for _, lp := range r.sb.Ledger().Payments {
		if n := strings.Count(fmt.Sprint(lp.History), "SUCCESS"); n > 1 {
			t.Errorf("order %s succeeded %d times", lp.OrderNo, n)
		}
	}
}

// TestMerchantQR is 7.2.4 主扫: the terminal shows the platform's merchant code, the
// holder pays it in the e-card app, and the C.4 record follows.
func TestMerchantQR(t *testing.T) {
	r, _ := newPayRig(t)
	code, o := r.call("POST", "/v1/payments", map[string]any{"amount": 880, "subject": "药品", "scene": "qr"})
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %v", code, o)
	}
	no := o["id"].(string)
	qr, _ := o["merchantQR"].(map[string]any)
	if qr == nil || !strings.HasPrefix(fmt.Sprint(qr["content"]), "https://sandbox.invalid/") {
		t.Fatalf("no merchant code in %v", o)
	}
	if e := r.order("payment.merchant-qr", no); e.Data["qrContent"] != qr["content"] {
		t.Errorf("event %v", e.Data)
	}
	simPost(t, r.sb, "/_sim/ecard/pay-merchant", map[string]string{"qrContent": qr["content"].(string), "idNumber": wangwu})
	r.order("payment.succeeded", no)
	rec := r.order("payment.recorded", no)
	_, c4 := waitLedger(t, r.sb, "the 主扫 C.4", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	if c4["settlementMethod"] != "电子社会保障卡主扫支付" || c4["amount"] != "8.80" || c4["payerSocialSecurityNo"] != wangwu {
		t.Errorf("C.4 = %v", c4)
	}
	if code, _ := r.call("POST", "/v1/payments", map[string]any{"amount": 1, "subject": "x", "scene": "qr", "code": "ESSC1234567890123456"}); code != http.StatusUnprocessableEntity {
		t.Errorf("a code for a merchant-qr scene: %d", code)
	}
}

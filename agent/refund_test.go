package agent_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/platform/platformsim"
)

// TestRefund: a paid order refunded in part through the local API with an operator, its
// C.4 record (08 退费/退款, negative) validated and stored by the sandbox; the same refund
// number again refunds nothing more, more than what is left is refused, a refund whose
// answer was lost is queried and refunded once; an order the platform charged and the
// agent reversed owes two records, the payment and the money given back.
func TestRefund(t *testing.T) {
	r, _ := newPayRig(t)
	pay := func(amount int) string {
		t.Helper()
		code, o := r.call("POST", "/v1/payments", map[string]any{"amount": amount, "subject": "药费", "scene": "pos",
			"code": issue(t, r, zhangsan)})
		if code != http.StatusAccepted {
			t.Fatalf("pay: %d %v", code, o)
		}
		return o["id"].(string)
	}
	no := pay(1250)
	r.order("payment.succeeded", no)
	r.order("payment.recorded", no)
	before := r.sb.Balance(zhangsan)

	body := map[string]any{"amount": 500, "operator": "op-7", "refundNo": "RF-E2E-1", "reason": "退号"}
	code, f := r.call("POST", "/v1/payments/"+no+"/refunds", body)
	if code != http.StatusAccepted || f["state"] != "SUCCESS" || f["operator"] != "op-7" {
		t.Fatalf("refund: %d %v", code, f)
	}
	if e := r.expect("refund.succeeded", dataIs("refundNo", "RF-E2E-1")); e.Data["operator"] != "op-7" || e.Prompts.Code != "500012" {
		t.Errorf("refund event %+v", e)
	}
	rec := r.expect("refund.recorded", dataIs("refundNo", "RF-E2E-1"))
	_, c4 := waitLedger(t, r.sb, "the refund's C.4", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	for k, v := range map[string]string{"businessSerialNo": "RF-E2E-1", "amount": "-5.00", "settlementType": "退费/退款",
		"settlementMethod": "电子社会保障卡展码被扫支付", "payerSocialSecurityNo": zhangsan} {
		if c4[k] != v {
			t.Errorf("refund C.4 %s = %q, want %q", k, c4[k], v)
		}
	}
	if !strings.Contains(c4["orderDescription"], "op-7") {
		t.Errorf("the record does not name the operator: %q", c4["orderDescription"])
	}
	if after := r.sb.Balance(zhangsan); after == before {
		t.Errorf("balance unchanged %s", after)
	}
	// The same refund number again: the same refund, nothing refunded twice.
	if code, again := r.call("POST", "/v1/payments/"+no+"/refunds", body); code != http.StatusAccepted || again["state"] != "SUCCESS" {
		t.Fatalf("the same refund again: %d %v", code, again)
	}
	if n := len(r.sb.Ledger().Refunds); n != 1 {
		t.Fatalf("%d refunds on the platform", n)
	}
	// More than what is left, and no operator, are refused at the door.
	if code, e := r.call("POST", "/v1/payments/"+no+"/refunds", map[string]any{"amount": 751, "operator": "op-7"}); code != http.StatusUnprocessableEntity {
		t.Errorf("a refund above what is left: %d %v", code, e)
	}
	if code, e := r.call("POST", "/v1/payments/"+no+"/refunds", map[string]any{"amount": 1}); code != http.StatusUnprocessableEntity ||
		!strings.Contains(fmt.Sprint(e), "operator") {
		t.Errorf("a refund without an operator: %d %v", code, e)
	}
	// The answer is lost after the platform refunded: queried, refunded once.
	f2, _ := platformsim.ParseFault("refund:dropAfter:count=1")
	if err := r.sb.AddFaults(f2); err != nil {
		t.Fatal(err)
	}
	_, f = r.call("POST", "/v1/payments/"+no+"/refunds", map[string]any{"amount": 750, "operator": "op-8", "refundNo": "RF-E2E-2"})
	if code, got := r.call("GET", "/v1/refunds/RF-E2E-2?wait=20s", nil); code != http.StatusOK || got["state"] != "SUCCESS" ||
		fmt.Sprint(got["queries"]) == "0" {
		t.Fatalf("a lost answer not settled by query: %d %v (POST: %v)", code, got, f)
	}
	r.expect("refund.pending", dataIs("refundNo", "RF-E2E-2"))
	r.expect("refund.recorded", dataIs("refundNo", "RF-E2E-2"))
	if n := len(r.sb.Ledger().Refunds); n != 2 {
		t.Fatalf("%d refunds on the platform, want 2", n)
	}

	// Charged on the platform, never confirmed here: reversed, and two records.
	for _, spec := range []string{"micropay:dropAfter:count=1", "orderQuery:msgCode:code=999999:count=1000"} {
		fa, _ := platformsim.ParseFault(spec)
		if err := r.sb.AddFaults(fa); err != nil {
			t.Fatal(err)
		}
	}
	no = pay(300)
	r.order("payment.reversed", no)
	r.sb.ClearFaults()
	if e := r.order("payment.recorded", no); e.Data["refunded"] != true {
		t.Errorf("recorded %+v", e.Data)
	}
	_, pay4 := waitLedger(t, r.sb, "the payment's C.4", func(_ string, m map[string]string) bool { return m["businessSerialNo"] == no })
	_, rev4 := waitLedger(t, r.sb, "the reversal's C.4", func(_ string, m map[string]string) bool { return m["businessSerialNo"] == no+"-CZ" })
	if pay4["amount"] != "3.00" || rev4["amount"] != "-3.00" || rev4["settlementType"] != "退费/退款" {
		t.Errorf("payment %v, reversal %v", pay4, rev4)
	}
	if lp := ledgerPayment(r, no); lp.State != "REVERSED" {
		t.Errorf("ledger %+v", lp)
	}
}

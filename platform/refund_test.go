package platform_test

import (
	"context"
	"testing"

	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

// The sandbox's refund rules, through the client: refunds add up to at most what was
// paid, a refund number is idempotent and never reused for other parameters, an unpaid
// or unknown order has nothing to refund, and a reversal after a partial refund gives
// back only the rest.
func TestRefundRules(t *testing.T) {
	l := newLab(t, false)
	c, ctx := l.client, context.Background()
	if _, err := c.Micropay(ctx, platform.MicropayRequest{OrderNo: "P9-1", Amount: "30.00", QRCode: l.qr(t, zhangsan), Subject: "药费"}); err != nil {
		t.Fatal(err)
	}
	r := platform.RefundRequest{OrderNo: "P9-1", RefundNo: "R9-1", Amount: "10.00", OperatorID: "op-1"}
	first, err := c.Refund(ctx, r)
	if err != nil || first.State != platform.RefundSuccess {
		t.Fatalf("%+v %v", first, err)
	}
	again, err := c.Refund(ctx, r)
	if err != nil || again.RefundedTotal != "10.00" || !again.RefundTime.Equal(first.RefundTime) {
		t.Fatalf("the same refund again refunded twice or changed: %+v %v", again, err)
	}
	other := r
	other.Amount = "11.00"
	_, err = c.Refund(ctx, other)
	wantClass(t, err, platform.ClassRejected, protocol.CodeRefundConflict)
	_, err = c.Refund(ctx, platform.RefundRequest{OrderNo: "P9-1", RefundNo: "R9-2", Amount: "20.01", OperatorID: "op-1"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeRefundTooMuch)
	if got := platform.PromptFor(err); got != platform.CodeRefundTooMuch {
		t.Fatalf("prompt %d", got)
	}
	_, err = c.Refund(ctx, platform.RefundRequest{OrderNo: "P9-0", RefundNo: "R9-3", Amount: "1.00", OperatorID: "op-1"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderNotFound)
	_, err = c.QueryRefund(ctx, "P9-1", "R9-9")
	wantClass(t, err, platform.ClassRejected, protocol.CodeRefundNotFound)
	if _, err := c.Refund(ctx, platform.RefundRequest{OrderNo: "P9-1", RefundNo: "R9-4", Amount: "1.00"}); platform.ClassOf(err) != platform.ClassRejected {
		t.Fatalf("a refund without an operator was sent: %v", err)
	}
	if _, err := c.Reverse(ctx, "P9-1"); err != nil {
		t.Fatal(err)
	}
	if got := l.sb.Balance(zhangsan); got != "5000.00" {
		t.Fatalf("balance %s after a refund and a reversal of a 30.00 payment", got)
	}
	_, err = c.Refund(ctx, platform.RefundRequest{OrderNo: "P9-1", RefundNo: "R9-5", Amount: "1.00", OperatorID: "op-1"})
	wantClass(t, err, platform.ClassRejected, protocol.CodeOrderClosed)
	if n := len(l.sb.Ledger().Refunds); n != 1 {
		t.Fatalf("%d refunds in the ledger", n)
	}
}

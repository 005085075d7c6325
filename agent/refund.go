package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
	"github.com/sscagent/sscagent/records"
)

// Refunds (退款) of paid orders: a person asks (POST /v1/payments/{id}/refunds or
// "sscagent payment refund") with an operator id; payment.Manager.Refund writes the
// refund and drives it to SUCCESS, FAILED or NEEDS_MANUAL with the payments' rules;
// every change is a refund.* event; a SUCCESS refund's C.4 record (支付结算类型 08
// 退费/退款, a negative amount) is queued by the payment recorder (payrecord.go), as is
// the pair of records of an order that was paid and then reversed.

var _ payment.RefundGateway = (*gateway)(nil)

// Refund implements payment.RefundGateway.
func (g *gateway) Refund(ctx context.Context, r payment.RefundCall) (payment.RefundAnswer, error) {
	_, ctx = g.scene(ctx, r.OrderNo)
	res, err := g.l.client().Refund(ctx, platform.RefundRequest{OrderNo: r.OrderNo, RefundNo: r.RefundNo,
		Amount: records.Amount(r.Amount).String(), Reason: truncateRunes(r.Reason, 80), OperatorID: r.Operator})
	g.l.note(err)
	if err != nil {
		return payment.RefundAnswer{}, err
	}
	return refundAnswer(res), nil
}

// QueryRefund implements payment.RefundGateway. A refund the platform never received
// is StatusNotFound.
func (g *gateway) QueryRefund(ctx context.Context, orderNo, refundNo string) (payment.RefundAnswer, error) {
	_, ctx = g.scene(ctx, orderNo)
	res, err := g.l.client().QueryRefund(ctx, orderNo, refundNo)
	g.l.note(err)
	var e *platform.Error
	if errors.As(err, &e) && e.MsgCode == protocol.CodeRefundNotFound {
		return payment.RefundAnswer{Status: payment.StatusNotFound}, nil
	}
	if err != nil {
		return payment.RefundAnswer{}, err
	}
	return refundAnswer(res), nil
}

func refundAnswer(res platform.RefundResult) payment.RefundAnswer {
	switch res.State {
	case platform.RefundSuccess:
		return payment.RefundAnswer{Status: payment.StatusPaid, RefundTime: res.RefundTime}
	case platform.RefundFailed:
		return payment.RefundAnswer{Status: payment.StatusClosed, Reason: res.FailReason}
	}
	return payment.RefundAnswer{Status: payment.StatusUserPaying}
}

// refundChanged is the payment manager's OnRefundChange: one refund.* event per
// persisted change (with the operator), and the recorder woken for final refunds.
func (a *Agent) refundChanged(r payment.Refund) {
	ok := r.State != payment.Failed && r.State != payment.NeedsManual
	a.emit(refundKind(r), r.Scene, "", ok, r.PromptCode(), "", refundData(r))
	if r.State.Final() && a.recorder != nil {
		a.recorder.poke()
	}
}

// refundKind names the event of a refund's state.
func refundKind(r payment.Refund) event.Kind {
	switch r.State {
	case payment.Success:
		return KindRefundSucceeded
	case payment.Failed:
		return KindRefundFailed
	case payment.NeedsManual:
		return KindRefundNeedsManual
	}
	return KindRefundPending
}

// refundData is a refund for events (no personal data: refunds hold none).
func refundData(r payment.Refund) map[string]any {
	d := map[string]any{"refundNo": r.No, "orderNo": r.OrderNo, "amount": r.Amount, "state": string(r.State),
		"operator": r.Operator}
	if r.Detail != "" {
		d["detail"] = r.Detail
	}
	return d
}

// refundView is a refund as the local API shows it.
type refundView struct {
	payment.Refund
	Prompts prompt.Prompts `json:"prompts"`
}

func refundViewOf(r payment.Refund) refundView {
	return refundView{Refund: r, Prompts: prompt.Lookup(r.PromptCode()).All(prompt.ZH)}
}

// refundRecord builds the C.4 record of money given back: a refund (its number as
// 业务流水号) or the reversal of a paid order (the order number + "-CZ"). The amount is
// negative, 支付结算类型 08 退费/退款, and the order description names the operator.
func refundRecord(cfg Config, sc Scene, o payment.Order, p payer, serial string, fen int64, at, operator string) *records.Payment {
	rec := paymentRecord(cfg, sc, o, p, recordClock{}) // PaidTime is replaced below
	rec.BusinessSerialNo = serial
	rec.Amount = records.Amount(-fen).String()
	rec.PaidTime = at
	rec.SettlementType = settlementRefund
	desc := "退款：" + o.Subject
	if operator != "" {
		desc += fmt.Sprintf("（操作员 %s）", operator)
	} else {
		desc = "撤销退回：" + o.Subject
	}
	rec.OrderDescription = truncateRunes(desc, records.MaxText)
	return rec
}

// settlementRefund is table C.10's 08 退费/退款.
const settlementRefund = "08"

// reversalSerial is the 业务流水号 of the record of a paid order's reversal.
func reversalSerial(orderNo string) string { return orderNo + "-CZ" }

package platform

import (
	"context"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// RefundState is the state of a refund on the platform.
type RefundState string

// Refund states (protocol.Refund*).
const (
	RefundSuccess    RefundState = protocol.RefundSuccess
	RefundProcessing RefundState = protocol.RefundProcessing
	RefundFailed     RefundState = protocol.RefundFailed
)

// RefundRequest gives money of a paid order back to the holder (退款), in full or in
// part. Refunds of one order add up to at most what was paid; the platform refuses the
// rest (300009).
type RefundRequest struct {
	// OrderNo is the paid order. Required.
	OrderNo string
	// RefundNo is the terminal's refund number: the same for every retry and query of
	// this refund, never used for another. Required.
	RefundNo string
	// Amount is yuan with exactly two decimals. Required.
	Amount string
	// Reason says why, at most 80 characters (optional).
	Reason string
	// OperatorID is who ordered the refund. Required.
	OperatorID string
}

// RefundResult is the state of a refund as the platform reported it.
type RefundResult struct {
	OrderNo, RefundNo string
	State             RefundState
	// Amount is this refund, RefundedTotal every successful refund of the order (yuan).
	Amount, RefundedTotal string
	// RefundTime is when it succeeded (zero otherwise).
	RefundTime time.Time
	// FailReason says why a FAILED refund was declined.
	FailReason string
	RequestID  string
}

// Refund asks the platform to refund (part of) a paid order: SUCCESS, PROCESSING (query
// with QueryRefund) or FAILED (nothing refunded). Refusals of the request (order not
// paid, amount above what is left, refund number reused) are ClassRejected errors;
// ClassUnknown means the refund may have happened: query, never send it again.
func (c *Client) Refund(ctx context.Context, r RefundRequest) (RefundResult, error) {
	var d protocol.Data
	d.Set("orderNo", r.OrderNo)
	d.Set("refundNo", r.RefundNo)
	d.Set("amount", r.Amount)
	d.Set("reason", r.Reason)
	d.Set("operatorId", r.OperatorID)
	var in inputCheck
	in.pattern("orderNo", r.OrderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	in.pattern("refundNo", r.RefundNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	in.amount("amount", r.Amount, true)
	in.text("reason", r.Reason, 0, 80)
	in.pattern("operatorId", r.OperatorID, reOrderNo, "1-32 letters, digits, '-' or '_'")
	if err := in.err(protocol.OpRefund); err != nil {
		return RefundResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpRefund, d)
	if err != nil {
		return RefundResult{}, err
	}
	return c.refund(rep, r.OrderNo, r.RefundNo)
}

// QueryRefund returns the platform's state of a refund. A refund the platform never
// received is a ClassRejected error with msgCode 300011.
func (c *Client) QueryRefund(ctx context.Context, orderNo, refundNo string) (RefundResult, error) {
	var in inputCheck
	in.pattern("orderNo", orderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	in.pattern("refundNo", refundNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	if err := in.err(protocol.OpRefundQuery); err != nil {
		return RefundResult{}, err
	}
	var d protocol.Data
	d.Set("orderNo", orderNo)
	d.Set("refundNo", refundNo)
	rep, err := c.Call(ctx, protocol.OpRefundQuery, d)
	if err != nil {
		return RefundResult{}, err
	}
	return c.refund(rep, orderNo, refundNo)
}

func (c *Client) refund(rep *Reply, orderNo, refundNo string) (RefundResult, error) {
	g := rep.Result.Get
	res := RefundResult{OrderNo: g("orderNo"), RefundNo: g("refundNo"), State: RefundState(g("refundState")),
		Amount: g("amount"), RefundedTotal: g("refundedTotal"), FailReason: g("failReason"), RequestID: rep.RequestID}
	switch {
	case res.OrderNo != orderNo || res.RefundNo != refundNo:
		return res, c.unverified(rep, fmt.Errorf("result is for refund %q of order %q, not %q of %q", res.RefundNo, res.OrderNo, refundNo, orderNo))
	case res.State != RefundSuccess && res.State != RefundProcessing && res.State != RefundFailed:
		return res, c.unverified(rep, fmt.Errorf("refundState %q", res.State))
	case res.Amount != "" && !reAmount.MatchString(res.Amount), res.RefundedTotal != "" && !reAmount.MatchString(res.RefundedTotal):
		return res, c.unverified(rep, fmt.Errorf("amount %q, refundedTotal %q", res.Amount, res.RefundedTotal))
	}
	if t := g("refundTime"); t != "" {
		rt, err := protocol.ParseTime(t)
		if err != nil {
			return res, c.unverified(rep, err)
		}
		res.RefundTime = rt
	}
	if res.State == RefundSuccess && (res.Amount == "" || res.RefundTime.IsZero()) {
		return res, c.unverified(rep, fmt.Errorf("SUCCESS without amount and refundTime"))
	}
	return res, nil
}

// Prompt codes of the refund msgCodes.
const (
	CodeOrderNotPaid   prompt.Code = 400308
	CodeRefundTooMuch  prompt.Code = 400309
	CodeRefundConflict prompt.Code = 400310
	CodeRefundNotFound prompt.Code = 400311
)

func init() {
	byMsgCode[protocol.CodeOrderNotPaid] = CodeOrderNotPaid
	byMsgCode[protocol.CodeRefundTooMuch] = CodeRefundTooMuch
	byMsgCode[protocol.CodeRefundConflict] = CodeRefundConflict
	byMsgCode[protocol.CodeRefundNotFound] = CodeRefundNotFound
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	staff := t("退款未成功，请联系工作人员", "The refund did not go through, please ask staff")
	prompt.Register(
		prompt.Message{Code: CodeOrderNotPaid, Holder: staff,
			Operator:   t("该订单未支付成功，无需退款", "The order was not paid; there is nothing to refund"),
			Maintainer: t("平台返回订单未支付成功，不能退款", "Platform: order not paid, no refund")},
		prompt.Message{Code: CodeRefundTooMuch, Holder: staff,
			Operator:   t("退款金额超过可退金额，请核对已退款金额", "Refund above what is left to refund; check the earlier refunds"),
			Maintainer: t("平台返回退款金额超过可退金额", "Platform: refund above what is left")},
		prompt.Message{Code: CodeRefundConflict, Holder: staff,
			Operator:   t("退款单号已用于其他退款，请使用新的退款单号", "Refund number already used for another refund; use a new one"),
			Maintainer: t("平台返回退款单号重复（已用于其他参数）", "Platform: refund number already used with other parameters")},
		prompt.Message{Code: CodeRefundNotFound, Holder: t("正在确认退款结果，请稍候", "Confirming the refund, please wait"),
			Operator:   t("平台无此退款", "Refund not found on the platform"),
			Maintainer: t("平台返回退款不存在", "Platform: refund not found")},
	)
}

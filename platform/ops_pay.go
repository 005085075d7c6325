package platform

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
)

// TradeState is the state of a payment order on the platform.
type TradeState string

// Trade states (protocol.Trade*).
const (
	TradeSuccess    TradeState = protocol.TradeSuccess
	TradeUserPaying TradeState = protocol.TradeUserPaying
	TradeFailed     TradeState = protocol.TradeFailed
	TradeNotPay     TradeState = protocol.TradeNotPay
	TradeReversed   TradeState = protocol.TradeReversed
	TradeClosed     TradeState = protocol.TradeClosed
)

// Final reports whether the state can no longer change: SUCCESS can still be
// reversed, so only FAILED, REVERSED and CLOSED are final.
func (s TradeState) Final() bool {
	return s == TradeFailed || s == TradeReversed || s == TradeClosed
}

// MicropayRequest is an e-card payment where the terminal scans the holder's code
// (被扫支付, 7.2.3).
type MicropayRequest struct {
	// OrderNo is the terminal's order number: the same for every retry, query and
	// reversal of one attempt; a new attempt needs a new one. Required.
	OrderNo string
	// Amount is yuan with exactly two decimals, "0.01" to "99999999.99". Required.
	Amount string
	// QRCode is the holder's payment code, verbatim. Required; encrypted on the wire.
	QRCode string
	// Subject says what is paid for, at most 120 characters. Required.
	Subject string
	// PayType is the table C.10 支付结算类型 code (optional).
	PayType string
}

// PaymentResult is the state of an order as the platform reported it.
type PaymentResult struct {
	OrderNo string
	State   TradeState
	// TradeNo is the platform's transaction number (once paid).
	TradeNo string
	// Amount is what was paid, yuan with two decimals (once paid).
	Amount string
	// PaidTime is when it was paid (zero when not paid).
	PaidTime time.Time
	// FailReason says why a FAILED order was declined.
	FailReason string
	// PayerID and PayerName identify the payer (once paid), for the C.4 record.
	PayerID, PayerName mask.Value
	RequestID          string
}

// Micropay charges the holder's e-card: SUCCESS, USERPAYING (the holder is entering a
// password: query until it ends) or FAILED (declined, nothing charged). Request-level
// refusals (invalid or used code, payment not enabled, order number reused) are
// ClassRejected errors; ClassUnknown means the charge may have happened: query.
func (c *Client) Micropay(ctx context.Context, r MicropayRequest) (PaymentResult, error) {
	var d protocol.Data
	d.Set("orderNo", r.OrderNo)
	d.Set("amount", r.Amount)
	d.Set("qrCode", r.QRCode)
	d.Set("subject", r.Subject)
	d.Set("payType", r.PayType)
	var in inputCheck
	in.pattern("orderNo", r.OrderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	in.amount("amount", r.Amount, true)
	in.text("qrCode", r.QRCode, 1, 4096)
	in.text("subject", r.Subject, 1, 120)
	in.optional("payType", r.PayType, reTwoDigits, "2 digits (table C.10)")
	if err := in.err(protocol.OpMicropay); err != nil {
		return PaymentResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpMicropay, d)
	if err != nil {
		return PaymentResult{}, err
	}
	return c.payment(rep, r.OrderNo, TradeSuccess, TradeUserPaying, TradeFailed)
}

// QueryOrder returns the platform's state of an order (any trade state). An order the
// platform never received is a ClassRejected error with msgCode 300003.
func (c *Client) QueryOrder(ctx context.Context, orderNo string) (PaymentResult, error) {
	var in inputCheck
	in.pattern("orderNo", orderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	if err := in.err(protocol.OpOrderQuery); err != nil {
		return PaymentResult{}, err
	}
	var d protocol.Data
	d.Set("orderNo", orderNo)
	rep, err := c.Call(ctx, protocol.OpOrderQuery, d)
	if err != nil {
		return PaymentResult{}, err
	}
	return c.payment(rep, orderNo, TradeSuccess, TradeUserPaying, TradeFailed, TradeNotPay, TradeReversed, TradeClosed)
}

func (c *Client) payment(rep *Reply, orderNo string, allowed ...TradeState) (PaymentResult, error) {
	g := rep.Result.Get
	res := PaymentResult{
		OrderNo: g("orderNo"), State: TradeState(g("tradeState")), TradeNo: g("tradeNo"), Amount: g("amount"),
		FailReason: g("failReason"), RequestID: rep.RequestID,
		PayerID:   mask.Of(mask.KindIDNumber, g("idNumber")),
		PayerName: mask.Of(mask.KindName, g("name")),
	}
	if res.OrderNo != orderNo {
		return res, c.unverified(rep, fmt.Errorf("result is for order %q, not %q", res.OrderNo, orderNo))
	}
	if !slices.Contains(allowed, res.State) {
		return res, c.unverified(rep, fmt.Errorf("tradeState %q not expected here", res.State))
	}
	if res.Amount != "" && !reAmount.MatchString(res.Amount) {
		return res, c.unverified(rep, fmt.Errorf("amount %q", res.Amount))
	}
	if t := g("paidTime"); t != "" {
		pt, err := protocol.ParseTime(t)
		if err != nil {
			return res, c.unverified(rep, err)
		}
		res.PaidTime = pt
	}
	if (res.State == TradeSuccess || res.State == TradeReversed) && (res.TradeNo == "" || res.PaidTime.IsZero() || res.Amount == "") {
		return res, c.unverified(rep, fmt.Errorf("%s without tradeNo, amount and paidTime", res.State))
	}
	return res, nil
}

// ReverseResult is the answer to a reversal (撤销).
type ReverseResult struct {
	OrderNo string
	// State is the order's state after the call: REVERSED (it was paid: refunded),
	// CLOSED (it was not paid; it can never succeed now), or unchanged when Recall.
	State TradeState
	// Recall: the reversal is not finished; call Reverse again with the same order
	// number (WeChat's recall, Alipay's retry_flag).
	Recall bool
	// Action is "close" (was unpaid) or "refund" (was paid), when known.
	Action    string
	RequestID string
}

// Reverse cancels an order: an unpaid one is closed for good, a paid one refunded. An
// order the platform never received is closed too, so a delayed micropay can never
// succeed afterwards.
func (c *Client) Reverse(ctx context.Context, orderNo string) (ReverseResult, error) {
	var in inputCheck
	in.pattern("orderNo", orderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	if err := in.err(protocol.OpReverse); err != nil {
		return ReverseResult{}, err
	}
	var d protocol.Data
	d.Set("orderNo", orderNo)
	rep, err := c.Call(ctx, protocol.OpReverse, d)
	if err != nil {
		return ReverseResult{}, err
	}
	g := rep.Result.Get
	res := ReverseResult{OrderNo: g("orderNo"), State: TradeState(g("tradeState")), Action: g("action"), RequestID: rep.RequestID}
	switch g("recall") {
	case "Y":
		res.Recall = true
	case "N":
	default:
		return res, c.unverified(rep, fmt.Errorf("recall %q is not Y or N", g("recall")))
	}
	switch {
	case res.OrderNo != orderNo:
		return res, c.unverified(rep, fmt.Errorf("result is for order %q, not %q", res.OrderNo, orderNo))
	case !res.Recall && res.State != TradeReversed && res.State != TradeClosed:
		return res, c.unverified(rep, fmt.Errorf("finished reversal in state %q", res.State))
	case res.Action != "" && res.Action != "close" && res.Action != "refund":
		return res, c.unverified(rep, fmt.Errorf("action %q", res.Action))
	}
	return res, nil
}

// MerchantQRRequest asks for a merchant code the holder scans with the e-card app
// (主扫支付, 7.2.4).
type MerchantQRRequest struct {
	// OrderNo is the terminal's order number. Required.
	OrderNo string
	// Amount is yuan with two decimals; empty: the holder enters the amount.
	Amount string
	// Subject says what is paid for. Required.
	Subject string
	// Expire is how long the code is valid, 60s-1h; zero: the platform's default (300s).
	Expire time.Duration
}

// MerchantQRResult is the code to show. Query the order to learn when it is paid.
type MerchantQRResult struct {
	OrderNo    string
	QRContent  string
	ExpireTime time.Time
	RequestID  string
}

// MerchantQR creates a merchant code for an order.
func (c *Client) MerchantQR(ctx context.Context, r MerchantQRRequest) (MerchantQRResult, error) {
	var d protocol.Data
	d.Set("orderNo", r.OrderNo)
	d.Set("amount", r.Amount)
	d.Set("subject", r.Subject)
	var in inputCheck
	in.pattern("orderNo", r.OrderNo, reOrderNo, "1-32 letters, digits, '-' or '_'")
	in.amount("amount", r.Amount, false)
	in.text("subject", r.Subject, 1, 120)
	if r.Expire != 0 {
		if r.Expire < time.Minute || r.Expire > time.Hour || r.Expire%time.Second != 0 {
			in.add("expireSeconds", "must be whole seconds between 60 and 3600")
		}
		d.Set("expireSeconds", strconv.Itoa(int(r.Expire/time.Second)))
	}
	if err := in.err(protocol.OpMerchantQR); err != nil {
		return MerchantQRResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpMerchantQR, d)
	if err != nil {
		return MerchantQRResult{}, err
	}
	res := MerchantQRResult{OrderNo: rep.Result.Get("orderNo"), QRContent: rep.Result.Get("qrContent"), RequestID: rep.RequestID}
	if res.OrderNo != r.OrderNo {
		return res, c.unverified(rep, fmt.Errorf("result is for order %q, not %q", res.OrderNo, r.OrderNo))
	}
	if res.ExpireTime, err = protocol.ParseTime(rep.Result.Get("expireTime")); err != nil {
		return res, c.unverified(rep, err)
	}
	return res, nil
}

package platformsim

import (
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/platform/protocol"
)

// refund is one refund of a paid order.
type refund struct {
	orderKey, refundNo string
	amount             int64 // fen
	reason, operator   string
	state              string
	at                 time.Time
}

// LedgerRefund is one refund as the ledger shows it.
type LedgerRefund struct {
	OrderNo  string    `json:"orderNo"`
	RefundNo string    `json:"refundNo"`
	Amount   string    `json:"amount"`
	State    string    `json:"state"`
	Operator string    `json:"operatorId"`
	At       time.Time `json:"at"`
}

// refundKey is the refunds map's key: channel "/" order "/" refund number.
func refundKey(orderKey, refundNo string) string { return orderKey + "/" + refundNo }

// refunded is the sum of an order's successful refunds, in fen.
func (st *state) refunded(orderKey string) int64 {
	var n int64
	for _, r := range st.refunds {
		if r.orderKey == orderKey && r.state == protocol.RefundSuccess {
			n += r.amount
		}
	}
	return n
}

// refund gives (part of) a paid order back. The same refund number with the same
// parameters answers its state (a retry never refunds twice); with others, 300010.
func (st *state) refund(channel string, d protocol.Data, now time.Time) (protocol.Data, string, string) {
	orderNo, refundNo := d.Get("orderNo"), d.Get("refundNo")
	if !reOrderNo.MatchString(orderNo) || !reOrderNo.MatchString(refundNo) || !reOrderNo.MatchString(d.Get("operatorId")) {
		return protocol.Data{}, protocol.CodeBadRequest, "订单号、退款单号或操作员编号格式错误"
	}
	if utf8.RuneCountInString(d.Get("reason")) > 80 {
		return protocol.Data{}, protocol.CodeBadRequest, "退款原因过长"
	}
	amount, err := parseYuan(d.Get("amount"))
	if err != nil || amount <= 0 {
		return fail(protocol.CodeBadAmount)
	}
	key := channel + "/" + orderNo
	o, ok := st.orders[key]
	if !ok {
		return fail(protocol.CodeOrderNotFound)
	}
	if r, ok := st.refunds[refundKey(key, refundNo)]; ok {
		if r.amount != amount || r.reason != d.Get("reason") || r.operator != d.Get("operatorId") {
			return fail(protocol.CodeRefundConflict)
		}
		return st.refundResult(o, r), protocol.CodeOK, ""
	}
	st.settle(o, now)
	switch o.state {
	case protocol.TradeSuccess:
	case protocol.TradeReversed, protocol.TradeClosed:
		return fail(protocol.CodeOrderClosed)
	default:
		return fail(protocol.CodeOrderNotPaid)
	}
	if amount > o.amount-st.refunded(key) {
		return fail(protocol.CodeRefundTooMuch)
	}
	r := &refund{orderKey: key, refundNo: refundNo, amount: amount, reason: d.Get("reason"),
		operator: d.Get("operatorId"), state: protocol.RefundSuccess, at: now}
	st.refunds[refundKey(key, refundNo)] = r
	st.balances[o.idNumber] += amount
	return st.refundResult(o, r), protocol.CodeOK, ""
}

func (st *state) refundQuery(channel string, d protocol.Data) (protocol.Data, string, string) {
	key := channel + "/" + d.Get("orderNo")
	o, ok := st.orders[key]
	if !ok {
		return fail(protocol.CodeOrderNotFound)
	}
	r, ok := st.refunds[refundKey(key, d.Get("refundNo"))]
	if !ok {
		return fail(protocol.CodeRefundNotFound)
	}
	return st.refundResult(o, r), protocol.CodeOK, ""
}

func (st *state) refundResult(o *order, r *refund) protocol.Data {
	var d protocol.Data
	d.Set("orderNo", o.orderNo)
	d.Set("refundNo", r.refundNo)
	d.Set("refundState", r.state)
	d.Set("amount", formatYuan(r.amount))
	d.Set("refundedTotal", formatYuan(st.refunded(r.orderKey)))
	if r.state == protocol.RefundSuccess {
		d.Set("refundTime", protocol.FormatTime(r.at))
	}
	return d
}

// ledgerRefunds lists the refunds for the ledger, by channel "/" order "/" refund number.
func (st *state) ledgerRefunds() map[string]LedgerRefund {
	out := make(map[string]LedgerRefund, len(st.refunds))
	for k, r := range st.refunds {
		o := st.orders[r.orderKey]
		out[k] = LedgerRefund{OrderNo: o.orderNo, RefundNo: r.refundNo, Amount: formatYuan(r.amount), State: r.state,
			Operator: r.operator, At: r.at}
	}
	return out
}

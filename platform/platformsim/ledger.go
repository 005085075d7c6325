package platformsim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/platform/protocol"
)

type order struct {
	channel, orderNo string
	amount           int64 // fen; 0 for a merchant code without amount
	subject          string
	codeHash         string // sha256 of the e-card code
	idNumber         string
	state            string
	tradeNo          string
	paidTime         time.Time
	failReason       string
	created          time.Time
	due              time.Time // USERPAYING until then; merchant code expiry
	merchantCode     string
	history          []Transition
}

var reOrderNo = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (st *state) micropay(channel string, d protocol.Data, now time.Time, userPaying time.Duration) (protocol.Data, string, string) {
	orderNo := d.Get("orderNo")
	if !reOrderNo.MatchString(orderNo) {
		return protocol.Data{}, protocol.CodeBadRequest, "订单号格式错误"
	}
	amount, err := parseYuan(d.Get("amount"))
	if err != nil || amount <= 0 || amount > 9_999_999_999 {
		return fail(protocol.CodeBadAmount)
	}
	if n := utf8.RuneCountInString(d.Get("subject")); n > 120 {
		return protocol.Data{}, protocol.CodeBadRequest, "商品描述过长"
	}
	codeHash := hash(d.Get("qrCode"))
	key := channel + "/" + orderNo
	if o, ok := st.orders[key]; ok {
		// The same order again (a retry after a lost answer): its current state, if
		// the parameters are the same; never a second charge.
		if o.merchantCode != "" || o.amount != amount || o.codeHash != codeHash || o.subject != d.Get("subject") {
			return fail(protocol.CodeOrderConflict)
		}
		st.settle(o, now)
		if o.state == protocol.TradeClosed || o.state == protocol.TradeReversed {
			return fail(protocol.CodeOrderClosed)
		}
		return st.result(o), protocol.CodeOK, ""
	}
	p, code := st.useQR(d.Get("qrCode"), now)
	if p == nil {
		return fail(code)
	}
	if p.ECard.SignLevel != "2" {
		return fail(protocol.CodePayNotEnabled)
	}
	o := &order{channel: channel, orderNo: orderNo, amount: amount, subject: d.Get("subject"), codeHash: codeHash,
		idNumber: p.IDNumber, created: now}
	st.orders[key] = o
	switch {
	case amount > st.balances[p.IDNumber]:
		o.fail(now, "余额不足")
	case amount > st.threshold:
		o.move(now, protocol.TradeUserPaying)
		o.due = now.Add(userPaying)
	default:
		st.pay(o, now)
	}
	return st.result(o), protocol.CodeOK, ""
}

// settle moves an order along the sandbox clock: a USERPAYING order completes when its
// holder has had UserPaying to confirm; an unpaid merchant code closes when it expires.
func (st *state) settle(o *order, now time.Time) {
	switch {
	case o.state == protocol.TradeUserPaying && !now.Before(o.due):
		if o.amount > st.balances[o.idNumber] {
			o.fail(now, "余额不足")
			return
		}
		st.pay(o, now)
	case o.state == protocol.TradeNotPay && !now.Before(o.due):
		o.move(now, protocol.TradeClosed)
	}
}

func (st *state) pay(o *order, now time.Time) {
	st.balances[o.idNumber] -= o.amount
	st.tradeSeq++
	o.tradeNo = fmt.Sprintf("%s%08d", now.In(protocol.Beijing).Format("20060102"), st.tradeSeq)
	o.paidTime = now
	o.move(now, protocol.TradeSuccess)
}

func (o *order) fail(now time.Time, reason string) {
	o.failReason = reason
	o.move(now, protocol.TradeFailed)
}

func (o *order) move(now time.Time, to string) {
	o.state = to
	o.history = append(o.history, Transition{At: now, State: to})
}

func (o *order) result() protocol.Data {
	var r protocol.Data
	r.Set("orderNo", o.orderNo)
	r.Set("tradeState", o.state)
	r.Set("tradeNo", o.tradeNo)
	if o.amount > 0 && (o.state == protocol.TradeSuccess || o.state == protocol.TradeReversed) {
		r.Set("amount", formatYuan(o.amount))
	}
	if !o.paidTime.IsZero() {
		r.Set("paidTime", protocol.FormatTime(o.paidTime))
	}
	r.Set("failReason", o.failReason)
	if o.state == protocol.TradeSuccess || o.state == protocol.TradeReversed {
		r.Set("idNumber", o.idNumber)
	}
	return r
}

func (st *state) query(channel string, d protocol.Data, now time.Time) (protocol.Data, string, string) {
	o, ok := st.orders[channel+"/"+d.Get("orderNo")]
	if !ok {
		return fail(protocol.CodeOrderNotFound)
	}
	st.settle(o, now)
	return st.result(o), protocol.CodeOK, ""
}

// result is an order's answer, with the payer's name once paid.
func (st *state) result(o *order) protocol.Data {
	r := o.result()
	if p := st.reg.person(o.idNumber); p != nil && r.Get("idNumber") != "" {
		r.Set("name", p.Name)
	}
	return r
}

func (st *state) reverse(channel string, d protocol.Data, now time.Time, window time.Duration, recall bool) (protocol.Data, string, string) {
	orderNo := d.Get("orderNo")
	if !reOrderNo.MatchString(orderNo) {
		return protocol.Data{}, protocol.CodeBadRequest, "订单号格式错误"
	}
	key := channel + "/" + orderNo
	o, ok := st.orders[key]
	if !ok {
		// Never received: close the number for good, so a delayed micropay carrying it
		// can never succeed afterwards.
		o = &order{channel: channel, orderNo: orderNo, created: now}
		o.move(now, protocol.TradeClosed)
		st.orders[key] = o
		return reversed(o, "close", false), protocol.CodeOK, ""
	}
	if now.Sub(o.created) > window {
		return fail(protocol.CodeReverseTooLate)
	}
	st.settle(o, now)
	if recall {
		return reversed(o, "", true), protocol.CodeOK, ""
	}
	action := "close"
	switch o.state {
	case protocol.TradeSuccess:
		st.balances[o.idNumber] += o.amount - st.refunded(key) // what refunds gave back is not given twice
		o.move(now, protocol.TradeReversed)
		action = "refund"
	case protocol.TradeReversed:
		action = "refund"
	case protocol.TradeUserPaying, protocol.TradeNotPay, protocol.TradeFailed:
		o.move(now, protocol.TradeClosed)
	}
	return reversed(o, action, false), protocol.CodeOK, ""
}

func reversed(o *order, action string, recall bool) protocol.Data {
	var r protocol.Data
	r.Set("orderNo", o.orderNo)
	r.Set("tradeState", o.state)
	r.Set("action", action)
	r.Set("recall", map[bool]string{true: "Y", false: "N"}[recall])
	return r
}

func (st *state) merchantQR(channel string, d protocol.Data, now time.Time) (protocol.Data, string, string) {
	orderNo := d.Get("orderNo")
	if !reOrderNo.MatchString(orderNo) {
		return protocol.Data{}, protocol.CodeBadRequest, "订单号格式错误"
	}
	var amount int64
	if a := d.Get("amount"); a != "" {
		v, err := parseYuan(a)
		if err != nil || v <= 0 {
			return fail(protocol.CodeBadAmount)
		}
		amount = v
	}
	life := 300 * time.Second
	if e := d.Get("expireSeconds"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 60 || n > 3600 {
			return protocol.Data{}, protocol.CodeBadRequest, "expireSeconds 应为 60-3600"
		}
		life = time.Duration(n) * time.Second
	}
	key := channel + "/" + orderNo
	o, ok := st.orders[key]
	if ok && (o.merchantCode == "" || o.amount != amount || o.subject != d.Get("subject")) {
		return fail(protocol.CodeOrderConflict)
	}
	if !ok {
		var b [15]byte
		_, _ = rand.Read(b[:])
		o = &order{channel: channel, orderNo: orderNo, amount: amount, subject: d.Get("subject"), created: now,
			due: now.Add(life), merchantCode: "https://sandbox.invalid/ssc/pay?c=" + hex.EncodeToString(b[:])}
		o.move(now, protocol.TradeNotPay)
		st.orders[key] = o
		st.merchant[o.merchantCode] = key
	}
	var r protocol.Data
	r.Set("orderNo", orderNo)
	r.Set("qrContent", o.merchantCode)
	r.Set("expireTime", protocol.FormatTime(o.due))
	return r, protocol.CodeOK, ""
}

// payMerchant is the holder scanning a merchant code in the e-card app and paying.
func (st *state) payMerchant(qrContent, idNumber, amount string, now time.Time) (*order, error) {
	key, ok := st.merchant[qrContent]
	if !ok {
		return nil, errors.New("unknown merchant code")
	}
	o := st.orders[key]
	st.settle(o, now)
	if o.state != protocol.TradeNotPay {
		return nil, fmt.Errorf("order is %s", o.state)
	}
	p := st.reg.person(idNumber)
	if p == nil || p.ECard == nil || p.ECard.SignLevel != "2" {
		return nil, errors.New("not an e-card holder with payment enabled")
	}
	if o.amount == 0 {
		v, err := parseYuan(amount)
		if err != nil || v <= 0 {
			return nil, errors.New("the holder must enter an amount (yuan with two decimals)")
		}
		o.amount = v
	}
	o.idNumber = idNumber
	if o.amount > st.balances[idNumber] {
		o.fail(now, "余额不足")
		return o, nil
	}
	st.pay(o, now)
	return o, nil
}

// confirm ends a USERPAYING order now: the holder entered the password (or declined).
func (st *state) confirm(channel, orderNo string, decline string, now time.Time) (*order, error) {
	o, ok := st.orders[channel+"/"+orderNo]
	if !ok {
		return nil, errors.New("unknown order")
	}
	st.settle(o, now)
	if o.state != protocol.TradeUserPaying {
		return nil, fmt.Errorf("order is %s, not USERPAYING", o.state)
	}
	switch {
	case decline != "":
		o.fail(now, decline)
	case o.amount > st.balances[o.idNumber]:
		o.fail(now, "余额不足")
	default:
		st.pay(o, now)
	}
	return o, nil
}

package platformsim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
	"github.com/sscagent/sscagent/records"
)

// state is everything the sandbox remembers. Guarded by Server.mu.
type state struct {
	reg       *Registry
	threshold int64 // fen; micropay above needs the password
	balances  map[string]int64
	qr        map[string]*qrCode
	orders    map[string]*order // by channel + "/" + orderNo
	merchant  map[string]string // qrContent -> order key
	records   map[string]*recordEntry
	rejected  []RejectedRecord
	requests  map[string]int // accepted requests per operation
	answers   map[string]int // answers per msgCode
	tradeSeq  int
}

type qrCode struct {
	idNumber string
	expires  time.Time
	used     bool
}

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

type recordEntry struct {
	kind       string
	record     []byte // canonical JSON (records.Encode)
	received   int
	conflicts  int
	firstAt    time.Time
	channel    string
	terminalID string
}

func newState(reg *Registry, threshold int64) *state {
	st := &state{reg: reg, threshold: threshold, balances: map[string]int64{}, qr: map[string]*qrCode{},
		orders: map[string]*order{}, merchant: map[string]string{}, records: map[string]*recordEntry{},
		requests: map[string]int{}, answers: map[string]int{}}
	for _, p := range reg.Persons {
		if p.ECard != nil {
			st.balances[p.IDNumber], _ = parseYuan(p.ECard.Balance) // checked by ParseRegistry
		}
	}
	return st
}

func (s *Server) count(op protocol.Op, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.answers[code]++
	if code == protocol.CodeOK {
		s.state.requests[string(op)]++
	}
}

// run executes a verified operation.
func (s *Server) run(op protocol.Op, channel string, d protocol.Data, now time.Time, recall bool) (protocol.Data, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	switch op {
	case protocol.OpCardAuth:
		return st.cardAuth(d, now)
	case protocol.OpCardInternalAuth:
		return st.internalAuth(s.opts.HSM, d)
	case protocol.OpECardDecode:
		return st.ecardDecode(d, now)
	case protocol.OpMicropay:
		return st.micropay(channel, d, now, s.opts.UserPaying)
	case protocol.OpOrderQuery:
		return st.query(channel, d, now)
	case protocol.OpReverse:
		return st.reverse(channel, d, now, s.opts.ReverseWindow, recall)
	case protocol.OpMerchantQR:
		return st.merchantQR(channel, d, now)
	case protocol.OpBackflow:
		return st.backflow(channel, d, now)
	}
	return protocol.Data{}, protocol.CodeNoService, ""
}

func fail(code string) (protocol.Data, string, string) { return protocol.Data{}, code, "" }

func (st *state) cardAuth(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	p := st.reg.person(d.Get("idNumber"))
	if p == nil {
		return fail(protocol.CodePersonUnknown)
	}
	card, holder := st.reg.cardByNo(d.Get("cardNo"))
	if card == nil {
		return fail(protocol.CodeCardUnknown)
	}
	if holder != p || !matchCardID(card.CardID, d.Get("cardId")) || (d.Get("name") != "" && d.Get("name") != p.Name) {
		return fail(protocol.CodeCardMismatch)
	}
	switch card.Status {
	case "lost":
		return fail(protocol.CodeCardLost)
	case "frozen", "cancelled":
		return fail(protocol.CodeCardAbnormal)
	}
	if card.ExpiryDate != "" && card.ExpiryDate < now.In(protocol.Beijing).Format("20060102") {
		return fail(protocol.CodeCardExpired)
	}
	var r protocol.Data
	r.Set("cardStatus", "normal")
	r.Set("name", p.Name)
	r.Set("regionCode", card.RegionCode)
	r.Set("expiryDate", card.ExpiryDate)
	return r, protocol.CodeOK, ""
}

func (st *state) internalAuth(hsm CardHSM, d protocol.Data) (protocol.Data, string, string) {
	if hsm == nil {
		return fail(protocol.CodeHSMNotSupported)
	}
	step1 := d.Get("step1")
	fields := strings.Split(step1, "|")
	if len(fields) < 8 {
		return fail(protocol.CodeHSMBadStep1)
	}
	card, _ := st.reg.cardByID(fields[3]) // 卡识别码
	if card == nil {
		return fail(protocol.CodeCardUnknown)
	}
	switch card.Status {
	case "lost":
		return fail(protocol.CodeCardLost)
	case "frozen", "cancelled":
		return fail(protocol.CodeCardAbnormal)
	}
	pKey, err := hsm.InternalAuth(step1)
	switch {
	case errors.Is(err, ErrUnknownCard):
		return fail(protocol.CodeCardUnknown)
	case err != nil:
		return fail(protocol.CodeHSMBadStep1)
	}
	var r protocol.Data
	r.Set("pKey", pKey)
	return r, protocol.CodeOK, ""
}

// issueQR makes a fresh single-use e-card code for a registered e-card holder.
func (st *state) issueQR(idNumber string, now time.Time, life time.Duration) (string, time.Time, error) {
	p := st.reg.person(idNumber)
	if p == nil || p.ECard == nil {
		return "", time.Time{}, fmt.Errorf("%s is not a registered e-card holder", mask.IDNumber(idNumber))
	}
	var b [25]byte
	_, _ = rand.Read(b[:])
	code := "ESSC" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
	exp := now.Add(life)
	st.qr[code] = &qrCode{idNumber: idNumber, expires: exp}
	for c, q := range st.qr { // forget codes long expired
		if now.Sub(q.expires) > time.Hour {
			delete(st.qr, c)
		}
	}
	return code, exp, nil
}

// useQR checks and consumes an e-card code.
func (st *state) useQR(code string, now time.Time) (*Person, string) {
	q, ok := st.qr[code]
	switch {
	case !ok:
		return nil, protocol.CodeQRInvalid
	case q.used:
		return nil, protocol.CodeQRUsed
	case !now.Before(q.expires):
		return nil, protocol.CodeQRExpired
	}
	q.used = true
	return st.reg.person(q.idNumber), ""
}

func (st *state) ecardDecode(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	p, code := st.useQR(d.Get("qrCode"), now)
	if p == nil {
		return fail(code)
	}
	var r protocol.Data
	r.Set("idNumber", p.IDNumber)
	r.Set("name", p.Name)
	r.Set("regionCode", p.ECard.RegionCode)
	r.Set("signLevel", p.ECard.SignLevel)
	if len(p.Cards) > 0 {
		r.Set("cardNo", p.Cards[0].CardNo)
	}
	return r, protocol.CodeOK, ""
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
		st.balances[o.idNumber] += o.amount
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

func (st *state) backflow(channel string, d protocol.Data, now time.Time) (protocol.Data, string, string) {
	recs := d.Lists["records"]
	if len(recs) > protocol.MaxBackflowBatch {
		return fail(protocol.CodeBatchTooLarge)
	}
	if len(recs) == 0 {
		return protocol.Data{}, protocol.CodeBadRequest, "records 为空"
	}
	seen := map[string]bool{}
	results := make([]map[string]string, 0, len(recs))
	for _, e := range recs {
		id, kind := e["recordId"], e["kind"]
		if seen[id] {
			return protocol.Data{}, protocol.CodeBadRequest, "recordId 重复"
		}
		seen[id] = true
		res := map[string]string{"recordId": id}
		results = append(results, res)
		rec, err := records.Parse(records.Kind(kind), []byte(e["record"]))
		if err != nil {
			res["status"], res["reason"] = protocol.RecordRejected, err.Error()
			st.rejected = append(st.rejected, RejectedRecord{RecordID: id, Kind: kind, Reason: err.Error(), At: now})
			continue
		}
		canon, err := records.Encode(rec)
		if err != nil { // Parse normalised it; cannot happen
			res["status"], res["reason"] = protocol.RecordRejected, err.Error()
			continue
		}
		if old, ok := st.records[id]; ok {
			old.received++
			if old.kind != kind || string(old.record) != string(canon) {
				old.conflicts++
			}
			res["status"] = protocol.RecordDuplicate
			continue
		}
		st.records[id] = &recordEntry{kind: kind, record: canon, received: 1, firstAt: now, channel: channel,
			terminalID: d.Get("terminalId")}
		res["status"] = protocol.RecordAccepted
	}
	var r protocol.Data
	r.SetList("results", results)
	return r, protocol.CodeOK, ""
}

var reYuan = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)

// parseYuan reads yuan with exactly two decimals into fen.
func parseYuan(s string) (int64, error) {
	if !reYuan.MatchString(s) {
		return 0, fmt.Errorf("amount %q is not yuan with two decimals", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func formatYuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

func hash(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

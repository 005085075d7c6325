package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
)

// The typed operations below build the data of one operation from a request struct,
// check it before anything is sent (a malformed request is ClassRejected wrapping
// ErrInvalidRequest, and nothing is sent), call Call, and read the result into a
// struct, checking it too: a result that does not make sense (an unknown trade state,
// an order number that is not ours, a missing acknowledgement) is ClassUnverified.
// Personal data in results is a mask.Value: printed or logged it is masked; Clear()
// returns the value for the code that needs it.

// CardAuthRequest is the physical card authentication (实体社会保障卡鉴权, 7.1.1) of
// a card the terminal has read.
type CardAuthRequest struct {
	IDNumber    string // 社会保障号码, required
	Name        string // 姓名
	CardNo      string // 卡号, required
	CardID      string // 卡识别码, required
	RegionCode  string // 发卡地区行政区划代码
	CardVersion string // 规范版本
	ATR         string // ATR historical bytes, hex
	ExpiryDate  string // 卡有效期 YYYYMMDD
	// AuthMode says how the terminal authenticated the card: psam, hsm or none.
	AuthMode string
}

// CardAuthResult is a card the platform found valid.
type CardAuthResult struct {
	CardStatus string
	Name       mask.Value
	RegionCode string
	ExpiryDate string
	RequestID  string
}

// CardAuth asks the platform whether a card is valid. A lost, frozen, unknown or
// mismatched card is a ClassRejected error carrying the platform's msgCode.
func (c *Client) CardAuth(ctx context.Context, r CardAuthRequest) (CardAuthResult, error) {
	var d protocol.Data
	d.Set("idNumber", r.IDNumber)
	d.Set("name", r.Name)
	d.Set("cardNo", r.CardNo)
	d.Set("cardId", r.CardID)
	d.Set("regionCode", r.RegionCode)
	d.Set("cardVersion", r.CardVersion)
	d.Set("atr", r.ATR)
	d.Set("expiryDate", r.ExpiryDate)
	d.Set("authMode", r.AuthMode)
	var in inputCheck
	in.pattern("idNumber", r.IDNumber, reIDNumber, "18 characters: 17 digits and a digit or X")
	in.pattern("cardNo", r.CardNo, reCardNo, "9 letters or digits")
	in.pattern("cardId", r.CardID, reCardID, "32 letters or digits")
	in.optional("regionCode", r.RegionCode, reRegion, "6 digits")
	in.optional("authMode", r.AuthMode, reAuthMode, "psam, hsm or none")
	in.text("name", r.Name, 0, 60)
	if err := in.err(protocol.OpCardAuth); err != nil {
		return CardAuthResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpCardAuth, d)
	if err != nil {
		return CardAuthResult{}, err
	}
	res := CardAuthResult{
		CardStatus: rep.Result.Get("cardStatus"),
		Name:       mask.Of(mask.KindName, rep.Result.Get("name")),
		RegionCode: rep.Result.Get("regionCode"),
		ExpiryDate: rep.Result.Get("expiryDate"),
		RequestID:  rep.RequestID,
	}
	if res.CardStatus != "normal" {
		return res, c.unverified(rep, fmt.Errorf("msgCode 000000 with cardStatus %q", res.CardStatus))
	}
	return res, nil
}

// InternalAuthRequest is the platform half of the HSM two-step card authentication
// (卡内部认证): the Step-1 string of iReadCardBas_HSM_Step1 (reference/domain.md §2.5).
type InternalAuthRequest struct {
	// Step1 is the '|'-separated Step-1 output. Required.
	Step1 string
	// DeviceNo is the reader's 32-character 终端设备号, when known.
	DeviceNo string
}

// InternalAuthResult carries the pKey for iReadCardBas_HSM_Step2.
type InternalAuthResult struct {
	PKey      string
	RequestID string
}

// CardInternalAuth sends Step 1 of the HSM two-step and returns the pKey for Step 2.
func (c *Client) CardInternalAuth(ctx context.Context, r InternalAuthRequest) (InternalAuthResult, error) {
	var d protocol.Data
	d.Set("step1", r.Step1)
	d.Set("deviceNo", r.DeviceNo)
	var in inputCheck
	in.text("step1", r.Step1, 1, 1024)
	in.text("deviceNo", r.DeviceNo, 0, 64)
	if err := in.err(protocol.OpCardInternalAuth); err != nil {
		return InternalAuthResult{}, err
	}
	rep, err := c.Call(ctx, protocol.OpCardInternalAuth, d)
	if err != nil {
		return InternalAuthResult{}, err
	}
	return InternalAuthResult{PKey: rep.Result.Get("pKey"), RequestID: rep.RequestID}, nil
}

// ECardDecodeRequest is an e-card QR code to decode and authenticate (7.1.2).
type ECardDecodeRequest struct {
	// QRCode is the scanned code, verbatim. Required; it is encrypted on the wire.
	QRCode string
	// BusinessType is 01 查询, 02 缴费支付, 03 其他 or 04 异地就医 (optional).
	BusinessType string
}

// ECardIdentity is the holder behind an e-card code.
type ECardIdentity struct {
	IDNumber   mask.Value
	Name       mask.Value
	RegionCode string
	// SignLevel is "1" (一级签发: identity only) or "2" (二级签发: payment enabled).
	SignLevel string
	CardNo    string
	RequestID string
}

// PaymentEnabled reports whether the e-card may pay (二级签发).
func (e ECardIdentity) PaymentEnabled() bool { return e.SignLevel == "2" }

// DecodeECard decodes and authenticates an e-card QR code. An invalid, expired or used
// code is a ClassRejected error.
func (c *Client) DecodeECard(ctx context.Context, r ECardDecodeRequest) (ECardIdentity, error) {
	var d protocol.Data
	d.Set("qrCode", r.QRCode)
	d.Set("businessType", r.BusinessType)
	var in inputCheck
	in.text("qrCode", r.QRCode, 1, 4096)
	in.optional("businessType", r.BusinessType, reBusinessType, "01, 02, 03 or 04")
	if err := in.err(protocol.OpECardDecode); err != nil {
		return ECardIdentity{}, err
	}
	rep, err := c.Call(ctx, protocol.OpECardDecode, d)
	if err != nil {
		return ECardIdentity{}, err
	}
	id := ECardIdentity{
		IDNumber:   mask.Of(mask.KindIDNumber, rep.Result.Get("idNumber")),
		Name:       mask.Of(mask.KindName, rep.Result.Get("name")),
		RegionCode: rep.Result.Get("regionCode"),
		SignLevel:  rep.Result.Get("signLevel"),
		CardNo:     rep.Result.Get("cardNo"),
		RequestID:  rep.RequestID,
	}
	if id.SignLevel != "1" && id.SignLevel != "2" {
		return id, c.unverified(rep, fmt.Errorf("signLevel %q", id.SignLevel))
	}
	return id, nil
}

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

// BackflowRecord is one business record to flow back (数据回流): a C.3 credential,
// C.4 payment or C.5 benefit record with its stable id.
type BackflowRecord struct {
	// RecordID is the stable id (terminal id + sequence) the platform de-duplicates on.
	RecordID string
	// Kind is credential, payment or benefit (records.Kind).
	Kind string
	// Record is the record's JSON (records package); sent SM4-encrypted.
	Record []byte
}

// RecordStatus is the platform's answer for one record.
type RecordStatus string

// Record statuses.
const (
	RecordAccepted  RecordStatus = protocol.RecordAccepted
	RecordDuplicate RecordStatus = protocol.RecordDuplicate
	RecordRejected  RecordStatus = protocol.RecordRejected
)

// BackflowAck is the platform's answer for one submitted record.
type BackflowAck struct {
	RecordID string
	Status   RecordStatus
	// Reason says why a record was rejected.
	Reason string
}

// Stored reports whether the platform holds the record (accepted, or a duplicate of
// one it already had): the record may be deleted locally.
func (a BackflowAck) Stored() bool { return a.Status == RecordAccepted || a.Status == RecordDuplicate }

// SubmitRecords flows back a batch of 1 to protocol.MaxBackflowBatch records and
// returns one acknowledgement per record, in the order submitted. Sending the same
// record again is safe: the platform answers duplicate.
func (c *Client) SubmitRecords(ctx context.Context, recs []BackflowRecord) ([]BackflowAck, error) {
	var in inputCheck
	if len(recs) == 0 || len(recs) > protocol.MaxBackflowBatch {
		in.add("records", fmt.Sprintf("must hold 1-%d records, got %d", protocol.MaxBackflowBatch, len(recs)))
	}
	list := make([]map[string]string, 0, len(recs))
	seen := map[string]bool{}
	for i, r := range recs {
		name := fmt.Sprintf("records[%d]", i)
		in.pattern(name+".recordId", r.RecordID, reRecordID, "1-64 letters, digits, '-', '_' or '.'")
		if seen[r.RecordID] {
			in.add(name+".recordId", "appears twice in the batch")
		}
		seen[r.RecordID] = true
		if r.Kind != "credential" && r.Kind != "payment" && r.Kind != "benefit" {
			in.add(name+".kind", "must be credential, payment or benefit")
		}
		if len(r.Record) == 0 || len(r.Record) > 64<<10 || !json.Valid(r.Record) {
			in.add(name+".record", "must be a JSON text of at most 64 KiB")
		}
		list = append(list, map[string]string{"recordId": r.RecordID, "kind": r.Kind, "record": string(r.Record)})
	}
	if err := in.err(protocol.OpBackflow); err != nil {
		return nil, err
	}
	var d protocol.Data
	d.SetList("records", list)
	rep, err := c.Call(ctx, protocol.OpBackflow, d)
	if err != nil {
		return nil, err
	}
	byID := map[string]BackflowAck{}
	for _, e := range rep.Result.Lists["results"] {
		a := BackflowAck{RecordID: e["recordId"], Status: RecordStatus(e["status"]), Reason: e["reason"]}
		if !seen[a.RecordID] {
			return nil, c.unverified(rep, fmt.Errorf("acknowledgement for record %q that was not submitted", a.RecordID))
		}
		if _, dup := byID[a.RecordID]; dup {
			return nil, c.unverified(rep, fmt.Errorf("record %q acknowledged twice", a.RecordID))
		}
		if a.Status != RecordAccepted && a.Status != RecordDuplicate && a.Status != RecordRejected {
			return nil, c.unverified(rep, fmt.Errorf("record %q: status %q", a.RecordID, a.Status))
		}
		byID[a.RecordID] = a
	}
	acks := make([]BackflowAck, len(recs))
	for i, r := range recs {
		a, ok := byID[r.RecordID]
		if !ok {
			return nil, c.unverified(rep, fmt.Errorf("no acknowledgement for record %q", r.RecordID))
		}
		acks[i] = a
	}
	return acks, nil
}

// unverified turns a verified envelope whose result makes no sense into an error.
func (c *Client) unverified(rep *Reply, err error) error {
	e := &Error{Op: string(rep.Op), Class: ClassUnverified, RequestID: rep.RequestID, Err: fmt.Errorf("%w: result: %v", ErrUnverified, err)}
	c.reclassify(e) // Call counted a success; the result says otherwise
	return e
}

var (
	reIDNumber     = regexp.MustCompile(`^[0-9]{17}[0-9X]$`)
	reCardNo       = regexp.MustCompile(`^[0-9A-Z]{9}$`)
	reCardID       = regexp.MustCompile(`^[0-9A-Fa-f]{6}[0-9A-Za-z]{26}$`)
	reRegion       = regexp.MustCompile(`^[0-9]{6}$`)
	reAuthMode     = regexp.MustCompile(`^(psam|hsm|none)$`)
	reBusinessType = regexp.MustCompile(`^0[1-4]$`)
	reOrderNo      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	reRecordID     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	reTwoDigits    = regexp.MustCompile(`^[0-9]{2}$`)
	reAmount       = regexp.MustCompile(`^(0|[1-9][0-9]{0,7})\.[0-9]{2}$`)
)

// inputCheck collects every problem of a request before it is sent.
type inputCheck struct{ problems []string }

func (in *inputCheck) add(field, reason string) {
	in.problems = append(in.problems, field+": "+reason)
}

func (in *inputCheck) pattern(field, v string, re *regexp.Regexp, want string) {
	if !re.MatchString(v) {
		if v == "" {
			in.add(field, "required")
			return
		}
		in.add(field, "must be "+want)
	}
}

func (in *inputCheck) optional(field, v string, re *regexp.Regexp, want string) {
	if v != "" {
		in.pattern(field, v, re, want)
	}
}

// text checks a free text: at least lo (0: optional) and at most hi characters, no
// control characters.
func (in *inputCheck) text(field, v string, lo, hi int) {
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && lo > 0:
		in.add(field, "required")
	case n > hi:
		in.add(field, fmt.Sprintf("must be at most %d characters", hi))
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		in.add(field, "must be text without control characters")
	}
}

func (in *inputCheck) amount(field, v string, required bool) {
	switch {
	case v == "" && !required:
	case !reAmount.MatchString(v):
		in.pattern(field, v, reAmount, `yuan with exactly two decimals, e.g. "12.50"`)
	case v == "0.00":
		in.add(field, "must be more than 0.00")
	}
}

func (in *inputCheck) err(op protocol.Op) error {
	if len(in.problems) == 0 {
		return nil
	}
	return &Error{Op: string(op), Class: ClassRejected,
		Err: fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(in.problems, "; "))}
}

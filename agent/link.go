package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
	"github.com/sscagent/sscagent/psam"
	"github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/records"
)

// link is the agent's one connection to the platform: the current client (replaced when
// a new configuration changes the platform section) and whether the platform answers.
// Every platform call of the agent goes through it, so the first answer after an outage
// is seen at once (the uploader then drains without waiting out its backoff).
type link struct {
	c      atomic.Pointer[platform.Client]
	onUp   func()          // the platform answered after failures
	onDown func(err error) // the first call without an answer after answers

	mu   sync.Mutex // guards down
	down bool
}

// client returns the current platform client.
func (l *link) client() *platform.Client { return l.c.Load() }

// note records the outcome of one call: an answer (a success or any verified refusal)
// means the platform is up; no answer means it is down. Cancelled calls say nothing.
func (l *link) note(err error) {
	if err != nil && platform.IsCanceled(err) {
		return
	}
	up := answered(err)
	l.mu.Lock()
	changed := l.down == up
	l.down = !up
	l.mu.Unlock()
	switch {
	case changed && up && l.onUp != nil:
		l.onUp()
	case changed && !up && l.onDown != nil:
		l.onDown(err)
	}
}

// answered reports whether a call got a verified answer from the platform: a success,
// or a refusal carrying the platform's msgCode.
func answered(err error) bool {
	if err == nil {
		return true
	}
	var e *platform.Error
	return errors.As(err, &e) && e.MsgCode != ""
}

// isDown reports whether the last call got no answer.
func (l *link) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// cardAuth is platform.CardAuth through the link.
func (l *link) cardAuth(ctx context.Context, r platform.CardAuthRequest) (platform.CardAuthResult, error) {
	res, err := l.client().CardAuth(ctx, r)
	l.note(err)
	return res, err
}

// decodeECard is platform.DecodeECard through the link.
func (l *link) decodeECard(ctx context.Context, r platform.ECardDecodeRequest) (platform.ECardIdentity, error) {
	res, err := l.client().DecodeECard(ctx, r)
	l.note(err)
	return res, err
}

// CardInternalAuth is the platform's HSM half through the link; it makes the link the
// client of psam.PlatformHSM.
func (l *link) CardInternalAuth(ctx context.Context, r platform.InternalAuthRequest) (platform.InternalAuthResult, error) {
	res, err := l.client().CardInternalAuth(ctx, r)
	l.note(err)
	return res, err
}

// health is the platform half of the health gate: one signed round trip that changes
// nothing (an order query for a number that never exists). Any verified answer other
// than a protocol refusal (9xxxxx: signature, channel, service, decryption) proves the
// address, the TLS trust, the keys and the channel.
func (l *link) health(ctx context.Context, terminal string) error {
	_, err := l.client().QueryOrder(ctx, terminal+"-HEALTH")
	l.note(err)
	var e *platform.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.MsgCode != "" && !strings.HasPrefix(e.MsgCode, "9"):
		return nil
	}
	return fmt.Errorf("platform unreachable or refusing the terminal: %w", err)
}

var _ psam.InternalAuthenticator = psam.PlatformHSM{Client: (*link)(nil)}

// merchantMarker starts the "code" a merchant-qr order is paid with: such an order goes
// through the same closed loop as a scanned code (intent fsynced before the call, query,
// reverse), and the gateway turns it into a merchant code request instead of a micropay.
const merchantMarker = "merchant-qr:"

// payer is the holder who paid an order, as the platform reported it.
type payer struct {
	id, name mask.Value
	paidTime time.Time
	amount   string
}

// gateway adapts the platform client to payment.Gateway. It remembers the payer of the
// orders it saw paid (for their C.4 records) and the merchant codes it created.
type gateway struct {
	l *link
	// sceneOf returns the scene an order belongs to (its settlement type, its merchant
	// code expiry).
	sceneOf func(orderNo string) (Scene, bool)
	// qrFor is how long a merchant code is valid: payment.queryFor, at least 60s.
	qrFor time.Duration
	// onMerchantQR is told of a new merchant code; it must not block.
	onMerchantQR func(orderNo string, qr platform.MerchantQRResult)

	mu     sync.Mutex // guards the fields below
	payers map[string]payer
	qrs    map[string]platform.MerchantQRResult
	qrNew  chan struct{} // closed and replaced when a merchant code is added
}

var _ payment.Gateway = (*gateway)(nil)

func newGateway(l *link) *gateway {
	return &gateway{l: l, payers: map[string]payer{}, qrs: map[string]platform.MerchantQRResult{}, qrNew: make(chan struct{})}
}

// scene returns the scene of an order and a context whose platform calls carry the
// scene's applicationNo (an order of no known scene: platform.applicationNo).
func (g *gateway) scene(ctx context.Context, orderNo string) (Scene, context.Context) {
	sc, ok := g.sceneOf(orderNo)
	if !ok {
		return sc, ctx
	}
	return sc, platform.WithApplicationNo(ctx, sc.ApplicationNo)
}

// Pay implements payment.Gateway.
func (g *gateway) Pay(ctx context.Context, r payment.PayRequest) (payment.Result, error) {
	sc, ctx := g.scene(ctx, r.OrderNo)
	subject := truncateRunes(r.Subject, 120)
	if strings.HasPrefix(r.Code, merchantMarker) {
		qr, err := g.l.client().MerchantQR(ctx, platform.MerchantQRRequest{OrderNo: r.OrderNo,
			Amount: records.Amount(r.Amount).String(), Subject: subject, Expire: g.qrFor})
		g.l.note(err)
		if err != nil {
			return payment.Result{}, err
		}
		g.mu.Lock()
		g.qrs[r.OrderNo] = qr
		close(g.qrNew)
		g.qrNew = make(chan struct{})
		g.mu.Unlock()
		if g.onMerchantQR != nil {
			g.onMerchantQR(r.OrderNo, qr)
		}
		return payment.Result{Status: payment.StatusUserPaying}, nil
	}
	payType := ""
	if v, ok := records.RangeSettlementType.Lookup(sc.Payment.SettlementType); ok {
		payType = v.Code
	}
	res, err := g.l.client().Micropay(ctx, platform.MicropayRequest{OrderNo: r.OrderNo,
		Amount: records.Amount(r.Amount).String(), QRCode: r.Code, Subject: subject, PayType: payType})
	g.l.note(err)
	if err != nil {
		return payment.Result{}, err
	}
	return g.result(res), nil
}

// Query implements payment.Gateway. An order the platform never received is
// StatusNotFound.
func (g *gateway) Query(ctx context.Context, orderNo string) (payment.Result, error) {
	_, ctx = g.scene(ctx, orderNo)
	res, err := g.l.client().QueryOrder(ctx, orderNo)
	g.l.note(err)
	var e *platform.Error
	if errors.As(err, &e) && e.MsgCode == protocol.CodeOrderNotFound {
		return payment.Result{Status: payment.StatusNotFound}, nil
	}
	if err != nil {
		return payment.Result{}, err
	}
	return g.result(res), nil
}

// Reverse implements payment.Gateway.
func (g *gateway) Reverse(ctx context.Context, orderNo string) (payment.ReverseResult, error) {
	_, ctx = g.scene(ctx, orderNo)
	res, err := g.l.client().Reverse(ctx, orderNo)
	g.l.note(err)
	if err != nil {
		return payment.ReverseResult{}, err
	}
	if res.Recall {
		return payment.ReverseResult{Reason: "the platform asked to call reverse again"}, nil
	}
	return payment.ReverseResult{Done: true, Refunded: res.Action == "refund" || res.State == platform.TradeReversed}, nil
}

// result maps a platform trade state to the state machine's view and remembers the
// payer of a paid order.
func (g *gateway) result(res platform.PaymentResult) payment.Result {
	if res.State == platform.TradeReversed {
		g.remember(res)
		return payment.Result{Status: payment.StatusReversed, TradeNo: res.TradeNo}
	}
	switch res.State {
	case platform.TradeSuccess:
		g.remember(res)
		return payment.Result{Status: payment.StatusPaid, TradeNo: res.TradeNo}
	case platform.TradeUserPaying, platform.TradeNotPay:
		// NOTPAY: a merchant code not paid yet, or an order still being set up.
		return payment.Result{Status: payment.StatusUserPaying}
	}
	return payment.Result{Status: payment.StatusClosed, Reason: res.FailReason} // FAILED, CLOSED
}

// payerOf returns the payer of a paid order: remembered, or asked of the platform (an
// order paid before a restart).
func (g *gateway) payerOf(ctx context.Context, orderNo string) (payer, error) {
	g.mu.Lock()
	p, ok := g.payers[orderNo]
	g.mu.Unlock()
	if ok && p.id.Clear() != "" {
		return p, nil
	}
	res, err := g.l.client().QueryOrder(ctx, orderNo)
	g.l.note(err)
	if err != nil {
		return payer{}, err
	}
	if (res.State != platform.TradeSuccess && res.State != platform.TradeReversed) || res.PayerID.Clear() == "" {
		return payer{}, fmt.Errorf("platform reports order %s as %s without the payer", orderNo, res.State)
	}
	g.result(res)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.payers[orderNo], nil
}

// remember keeps the payer of an order the platform reports paid (or paid and reversed).
func (g *gateway) remember(res platform.PaymentResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.payers[res.OrderNo] = payer{id: res.PayerID, name: res.PayerName, paidTime: res.PaidTime, amount: res.Amount}
}

// merchantQR returns the merchant code of an order, if one was created in this run, and
// a channel closed when another code is added.
func (g *gateway) merchantQR(orderNo string) (platform.MerchantQRResult, bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	qr, ok := g.qrs[orderNo]
	return qr, ok, g.qrNew
}

// forget drops what the gateway remembers of a recorded order.
func (g *gateway) forget(orderNo string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.payers, orderNo)
	delete(g.qrs, orderNo)
}

// submitter adapts the platform client to backflow.Submitter.
type submitter struct{ l *link }

var _ backflow.Submitter = submitter{}

// Submit implements backflow.Submitter.
func (s submitter) Submit(ctx context.Context, items []backflow.Item) ([]backflow.Ack, error) {
	recs := make([]platform.BackflowRecord, len(items))
	for i, it := range items {
		recs[i] = platform.BackflowRecord{RecordID: it.ID, Kind: it.Kind, Record: it.Body}
	}
	res, err := s.l.client().SubmitRecords(ctx, recs)
	s.l.note(err)
	if err != nil {
		return nil, err
	}
	acks := make([]backflow.Ack, len(res))
	for i, a := range res {
		acks[i] = backflow.Ack{ID: a.RecordID, Reason: a.Reason}
		switch a.Status {
		case platform.RecordAccepted:
			acks[i].Status = backflow.Accepted
		case platform.RecordDuplicate:
			acks[i].Status = backflow.Duplicate
		default:
			acks[i].Status = backflow.Rejected
		}
	}
	return acks, nil
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// MedicalPurchaseAuth is the platform HSM's MAC1 through the link (psam.PlatformPurchase).
func (l *link) MedicalPurchaseAuth(ctx context.Context, r platform.MedicalPurchase) (platform.MedicalAuthResult, error) {
	res, err := l.client().MedicalPurchaseAuth(ctx, r)
	l.note(err)
	return res, err
}

// MedicalPurchaseVerify is the platform's MAC2/TAC check through the link.
func (l *link) MedicalPurchaseVerify(ctx context.Context, r platform.MedicalPurchase, terminalSeq, mac2, tac string) (string, error) {
	id, err := l.client().MedicalPurchaseVerify(ctx, r, terminalSeq, mac2, tac)
	l.note(err)
	return id, err
}

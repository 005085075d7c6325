package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/records"
)

// apiServices are the agent's services behind the local API.
type apiServices struct{ a *Agent }

var (
	_ localapi.PaymentService = apiServices{}
	_ localapi.RecordSink     = apiServices{}
	_ localapi.StatusSource   = apiServices{}
	_ localapi.QueueSource    = apiServices{}
	_ localapi.ReadSource     = apiServices{}
)

// coded gives an error the prompt code the local API shows with it.
type coded struct {
	error
	code prompt.Code
}

func (c coded) Unwrap() error           { return c.error }
func (c coded) PromptCode() prompt.Code { return c.code }

// Create implements localapi.PaymentService: an order in the payment scene (CREATED,
// durable), then the code the application sent, the merchant code of a merchant-qr
// scene, or the scene's scanner (the order waits for the next code scanned).
func (s apiServices) Create(ctx context.Context, r localapi.PaymentRequest) (any, error) {
	a := s.a
	sc, ok := a.paymentScene(r.Scene)
	if !ok {
		why := "no payment scene named " + r.Scene
		if r.Scene == "" {
			why = "this terminal has no payment scene, or several: name one"
		}
		return nil, &localapi.InvalidError{Code: CodeNoScene, Fields: []localapi.FieldError{{Field: "scene", Reason: why}}}
	}
	merchant := sc.Payment.Method == MethodMerchantQR
	switch {
	case r.Code != "" && merchant:
		return nil, &localapi.InvalidError{Fields: []localapi.FieldError{{Field: "code",
			Reason: "scene " + sc.Name + " shows a merchant code (主扫): it takes no payment code"}}}
	case isMerchantCode(r.Code):
		return nil, &localapi.InvalidError{Fields: []localapi.FieldError{{Field: "code", Reason: "not an e-card payment code"}}}
	}
	if err := a.queue.Accepting(queue.LaneMoney); err != nil {
		return nil, fmt.Errorf("%w: %w", localapi.ErrFull, err)
	}
	if w, busy := a.waits.get(sc.Name); busy && r.Code == "" && !merchant {
		if o, err := a.payments.Get(w.no); err != nil || o.IdempotencyKey == "" || o.IdempotencyKey != r.IdempotencyKey {
			return nil, coded{fmt.Errorf("%w: order %s of scene %s is waiting for a code", localapi.ErrConflict, w.no, sc.Name), CodePaymentBusy}
		}
	}
	o, err := a.payments.Create(ctx, payment.Request{Amount: r.Amount, Subject: r.Subject, Scene: sc.Name, IdempotencyKey: r.IdempotencyKey})
	if err != nil {
		return nil, paymentError(err)
	}
	if o.State != payment.Created {
		return a.view(o), nil // a retried request of an order that moved on
	}
	switch {
	case merchant:
		if o, err = a.pay(ctx, o.No, merchantMarker+o.No); err == nil {
			o = a.awaitMerchantQR(ctx, o)
		}
	case r.Code != "":
		o, err = a.pay(ctx, o.No, r.Code)
	default:
		if !a.waits.set(sc.Name, o.No, o.Created.Add(sc.Payment.CodeTimeout.D())) {
			// Another request won the scene meanwhile.
			_, _ = a.payments.Cancel(context.WithoutCancel(ctx), o.No)
			return nil, coded{fmt.Errorf("%w: another order of scene %s is waiting for a code", localapi.ErrConflict, sc.Name), CodePaymentBusy}
		}
	}
	if err != nil {
		return nil, paymentError(err)
	}
	return a.view(o), nil
}

// Get implements localapi.PaymentService.
func (s apiServices) Get(_ context.Context, id string) (any, error) {
	o, err := s.a.payments.Get(id)
	if err != nil {
		return nil, paymentError(err)
	}
	return s.a.view(o), nil
}

// Cancel implements localapi.PaymentService.
func (s apiServices) Cancel(ctx context.Context, id string) (any, error) {
	o, err := s.a.payments.Cancel(ctx, id)
	if err != nil {
		return nil, paymentError(err)
	}
	s.a.waits.clear(o.Scene, o.No)
	return s.a.view(o), nil
}

// List implements localapi.PaymentService: the orders in states, newest first.
func (s apiServices) List(_ context.Context, states []string, limit int) (any, error) {
	var want []payment.State
	for _, st := range states {
		ps := payment.State(st)
		if !ps.Valid() {
			return nil, &localapi.InvalidError{Fields: []localapi.FieldError{{Field: "state",
				Reason: fmt.Sprintf("%q is not an order state (CREATED, SENT, UNKNOWN, QUERYING, REVERSING, SUCCESS, FAILED, REVERSED, NEEDS_MANUAL)", st)}}}
		}
		want = append(want, ps)
	}
	all, err := s.a.payments.List(want...)
	if err != nil {
		return nil, err
	}
	out := struct {
		Payments []orderView `json:"payments"`
		// More says there are more orders than listed (older ones).
		More bool `json:"more,omitempty"`
	}{Payments: []orderView{}}
	for i := len(all) - 1; i >= 0 && len(out.Payments) < limit; i-- {
		out.Payments = append(out.Payments, s.a.view(all[i]))
	}
	out.More = len(all) > limit
	return out, nil
}

// Settle implements localapi.PaymentService.
func (s apiServices) Settle(ctx context.Context, id string, r localapi.SettleRequest) (any, error) {
	o, err := s.a.payments.Settle(ctx, id, *r.Paid, r.Note, r.Operator)
	if err != nil {
		return nil, paymentError(err)
	}
	return s.a.view(o), nil
}

// Refund implements localapi.RefundService: the refund is written and sent, and the
// answer waits (at most one call's time) for its outcome.
func (s apiServices) Refund(ctx context.Context, orderNo string, r localapi.RefundRequest) (any, error) {
	f, err := s.a.payments.Refund(ctx, payment.RefundRequest{OrderNo: orderNo, No: r.RefundNo, Amount: r.Amount,
		Reason: r.Reason, Operator: r.Operator})
	if err != nil {
		return nil, paymentError(err)
	}
	wctx, cancel := context.WithTimeout(ctx, s.a.Config().Payment.CallTimeout.D()+time.Second)
	defer cancel()
	if cur, err := s.a.payments.WaitRefund(wctx, f.No); err == nil || wctx.Err() != nil {
		f = cur
	}
	return refundViewOf(f), nil
}

// GetRefund implements localapi.RefundService.
func (s apiServices) GetRefund(ctx context.Context, no string, wait time.Duration) (any, error) {
	f, err := s.a.payments.GetRefund(no)
	if err != nil {
		return nil, paymentError(err)
	}
	if wait > 0 && !f.State.Final() {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if cur, err := s.a.payments.WaitRefund(wctx, no); err == nil || wctx.Err() != nil {
			f = cur
		}
	}
	return refundViewOf(f), nil
}

// paymentError maps the payment manager's errors to the local API's.
func paymentError(err error) error {
	switch {
	case errors.Is(err, payment.ErrNotFound):
		return coded{fmt.Errorf("%w: %w", localapi.ErrNotFound, err), payment.CodeNoSuchOrder}
	case errors.Is(err, payment.ErrCodeUsed):
		return coded{fmt.Errorf("%w: %w", localapi.ErrConflict, err), payment.CodeCodeUsed}
	case errors.Is(err, payment.ErrFinal), errors.Is(err, payment.ErrState), errors.Is(err, payment.ErrConflict):
		return fmt.Errorf("%w: %w", localapi.ErrConflict, err)
	case errors.Is(err, payment.ErrInvalid):
		return &localapi.InvalidError{Fields: []localapi.FieldError{{Field: "$", Reason: err.Error()}}}
	case errors.Is(err, payment.ErrNotRunning):
		return fmt.Errorf("%w: %w", localapi.ErrUnavailable, err)
	case errors.Is(err, queue.ErrFull):
		return fmt.Errorf("%w: %w", localapi.ErrFull, err)
	}
	return err
}

// Accept implements localapi.RecordSink: the record is validated (every problem with
// its field), normalised, and stored durably in its lane before the id is returned.
func (s apiServices) Accept(ctx context.Context, kind string, raw json.RawMessage, idemKey string) (string, bool, error) {
	a := s.a
	k := records.Kind(kind)
	if !k.Valid() {
		return "", false, &localapi.InvalidError{Code: records.CodeUnknownKind,
			Fields: []localapi.FieldError{{Field: "type", Reason: "must be credential, payment or benefit"}}}
	}
	rec, err := records.Parse(k, raw)
	if err != nil {
		var ve *records.ValidationError
		if errors.As(err, &ve) {
			ie := &localapi.InvalidError{Code: ve.PromptCode()}
			for _, f := range ve.Fields {
				ie.Fields = append(ie.Fields, localapi.FieldError{Field: "record." + f.Field, Rule: f.Rule, Reason: f.Reason})
			}
			return "", false, ie
		}
		return "", false, err
	}
	body, err := records.Encode(rec)
	if err != nil {
		return "", false, err
	}
	lane := queue.LaneMoney
	if k == records.KindCredential {
		lane = queue.LaneIdentity
	}
	e := queue.Entry{Lane: lane, Kind: kind, Body: body}
	var id string
	var replayed bool
	if idemKey != "" {
		id, replayed, err = a.queue.PutIdempotent(ctx, e, idemKey)
	} else {
		id, err = a.queue.Put(ctx, e)
	}
	switch {
	case errors.Is(err, queue.ErrFull):
		return "", false, fmt.Errorf("%w: %w", localapi.ErrFull, err)
	case errors.Is(err, queue.ErrConflict):
		return "", false, coded{fmt.Errorf("%w: Idempotency-Key: %w", localapi.ErrConflict, err), queue.CodeIdempotencyConflict}
	case err != nil:
		return "", false, err
	}
	if !replayed {
		a.emit(KindRecordQueued, "", "localapi", true, CodeRecordQueued, "", map[string]any{"recordId": id, "kind": kind})
	}
	return id, replayed, nil
}

// Read implements localapi.ReadSource: a kiosk or medical scene's read, in clear, while
// it has not expired.
func (s apiServices) Read(_ context.Context, id string) (any, error) {
	r, ok := s.a.reads.get(id)
	if !ok {
		return nil, coded{fmt.Errorf("%w: read %q unknown or expired (kept %s)", localapi.ErrNotFound, id, readTTL), CodeReadUnavailable}
	}
	return r, nil
}

// QueueStats implements localapi.QueueSource.
func (s apiServices) QueueStats() any { return s.a.queueStats() }

// Status implements localapi.StatusSource.
func (s apiServices) Status() any { return s.a.status(time.Now()) }

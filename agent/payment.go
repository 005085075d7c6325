package agent

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/qrscan"
)

// The payment path (7.2.3 被扫, 7.2.4 主扫): an order comes from the application
// (POST /v1/payments, payment.Manager.Create: CREATED, durable); a scene of method scan
// pays the order waiting in it with the next e-card code scanned (or the code the
// application sent), a scene of method merchant-qr asks the platform for a merchant code
// to show. From there the payment state machine drives the order to SUCCESS, FAILED,
// REVERSED or NEEDS_MANUAL; every change is a payment.* event; a paid order's C.4 record
// is queued by the payment recorder (payrecord.go).

// payScan pays the order waiting in the scene with a scanned code.
func (a *Agent) payScan(ctx context.Context, s *sceneRun, sc qrscan.Scan) {
	name := s.cfg.Name
	if sc.Class != qrscan.ClassESSC {
		a.emit(KindScanIgnored, name, sc.Source, false, CodeNotECard, "",
			map[string]any{"class": string(sc.Class), "length": len(sc.Code.Clear())})
		return
	}
	w, ok := a.waits.get(name)
	if !ok {
		a.emit(KindScanIgnored, name, sc.Source, false, CodeNoPayment, "", nil)
		return
	}
	_, err := a.pay(ctx, w.no, sc.Code.Clear())
	switch {
	case err == nil:
		a.waits.clear(name, w.no)
	case errors.Is(err, payment.ErrCodeUsed):
		// The order keeps waiting for a fresh code.
		a.emit(KindScanIgnored, name, sc.Source, false, payment.CodeCodeUsed, "", map[string]any{"orderNo": w.no})
	default:
		if !errors.Is(err, payment.ErrNotRunning) {
			a.waits.clear(name, w.no) // final or moved on meanwhile (a cancel)
		}
		a.emit(KindScanIgnored, name, sc.Source, false, promptOf(err, prompt.CodeInternal), err.Error(),
			map[string]any{"orderNo": w.no})
	}
}

// pay submits a code for an order. At start the local API and the scanners may take
// business a moment before the payment state machine runs; until it does, Pay says
// ErrNotRunning having done nothing, and pay tries again for a few seconds.
func (a *Agent) pay(ctx context.Context, no, code string) (payment.Order, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for {
		o, err := a.payments.Pay(ctx, no, code)
		if !errors.Is(err, payment.ErrNotRunning) || !backoff.Sleep(ctx, 10*time.Millisecond) {
			return o, err
		}
	}
}

// codeTimeout cancels the scene's waiting order once its code did not come in time.
func (a *Agent) codeTimeout(ctx context.Context, s *sceneRun) {
	w, ok := a.waits.get(s.cfg.Name)
	if !ok || time.Now().Before(w.deadline) {
		return
	}
	a.waits.clear(s.cfg.Name, w.no)
	a.emit(KindPaymentExpired, s.cfg.Name, "", false, CodeCodeTimeout, "", map[string]any{"orderNo": w.no})
	if _, err := a.payments.Cancel(ctx, w.no); err != nil && !errors.Is(err, payment.ErrFinal) && ctx.Err() == nil {
		a.log.Error("cancelling an order whose code did not come", "order", w.no, "err", err)
	}
}

// paymentChanged is the payment manager's OnChange: one payment.* event per persisted
// change, and the recorder woken for final orders.
func (a *Agent) paymentChanged(o payment.Order) {
	if o.State != payment.Created {
		a.waits.clear(o.Scene, o.No)
	}
	ok := o.State != payment.Failed && (o.State != payment.NeedsManual || o.Settled != nil) && o.State != payment.Reversed
	a.emit(paymentKind(o), o.Scene, "", ok, o.PromptCode(), "", orderData(o))
	if o.State.Final() && a.recorder != nil {
		a.recorder.poke()
	}
}

// paymentKind names the event of an order's state.
func paymentKind(o payment.Order) event.Kind {
	switch o.State {
	case payment.Created:
		return "payment.created"
	case payment.Sent:
		return "payment.sent"
	case payment.Unknown, payment.Querying:
		return "payment.checking"
	case payment.Reversing:
		return "payment.reversing"
	case payment.Success:
		return "payment.succeeded"
	case payment.Reversed:
		return "payment.reversed"
	case payment.NeedsManual:
		if o.Settled != nil {
			return "payment.settled"
		}
		return "payment.needs-manual"
	}
	if o.PromptCode() == payment.CodeCancelled {
		return "payment.cancelled"
	}
	return "payment.failed"
}

// orderData is an order for events (no personal data: orders hold none).
func orderData(o payment.Order) map[string]any {
	d := map[string]any{"orderNo": o.No, "amount": o.Amount, "state": string(o.State), "subject": o.Subject}
	if o.TradeNo != "" {
		d["tradeNo"] = o.TradeNo
	}
	if o.Reason != "" {
		d["reason"] = o.Reason
	}
	if o.Settled != nil {
		d["settledPaid"], d["operator"] = o.Settled.Paid, o.Settled.Operator
	}
	return d
}

// merchantQR publishes the merchant code of a merchant-qr order for the application to
// show (it is the terminal's code, not the holder's: it may be shown and logged).
func (a *Agent) merchantQR(orderNo string, qr platform.MerchantQRResult) {
	scene := ""
	if o, err := a.payments.Get(orderNo); err == nil {
		scene = o.Scene
	}
	a.emit(KindPaymentQR, scene, "", true, payment.CodeWaitingCode, "",
		map[string]any{"orderNo": orderNo, "qrContent": qr.QRContent, "expireTime": qr.ExpireTime})
}

// sceneOfOrder returns the scene of an order, from the running configuration.
func (a *Agent) sceneOfOrder(orderNo string) (Scene, bool) {
	o, err := a.payments.Get(orderNo)
	if err != nil {
		return Scene{}, false
	}
	return a.paymentScene(o.Scene)
}

// paymentScene returns the payment scene named name, or the only payment scene when
// name is empty. An unknown scene of a recorded order (the configuration changed)
// gets the defaults of method scan.
func (a *Agent) paymentScene(name string) (Scene, bool) {
	cfg := a.Config()
	var found []Scene
	for _, s := range cfg.Scenes {
		if s.Kind == ScenePayment && (name == "" || s.Name == name) {
			found = append(found, s)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return Scene{Name: name, Kind: ScenePayment}.withDefaults(cfg.Platform.ApplicationNo), false
}

// orderView is an order as the local API shows it.
type orderView struct {
	payment.Order
	// ID is the order number again, as the API's path parameter.
	ID      string         `json:"id"`
	Prompts prompt.Prompts `json:"prompts"`
	// WaitingForCode: the next e-card code scanned in the scene pays this order.
	WaitingForCode bool `json:"waitingForCode,omitempty"`
	// MerchantQR is the code to show for a merchant-qr order.
	MerchantQR *merchantQRView `json:"merchantQR,omitempty"`
}

type merchantQRView struct {
	Content string    `json:"content"`
	Expires time.Time `json:"expires"`
}

func (a *Agent) view(o payment.Order) orderView {
	v := orderView{Order: o, ID: o.No, Prompts: prompt.Lookup(o.PromptCode()).All(prompt.ZH)}
	if w, ok := a.waits.get(o.Scene); ok && w.no == o.No {
		v.WaitingForCode = true
	}
	if qr, ok, _ := a.gw.merchantQR(o.No); ok && !o.State.Final() {
		v.MerchantQR = &merchantQRView{Content: qr.QRContent, Expires: qr.ExpireTime}
	}
	return v
}

// awaitMerchantQR waits (at most one call's time) until the platform's merchant code of
// a merchant-qr order is there, or the order moved on without one, and returns the
// order as it is then: the application gets the code to show in the answer to its POST.
func (a *Agent) awaitMerchantQR(ctx context.Context, o payment.Order) payment.Order {
	ctx, cancel := context.WithTimeout(ctx, a.Config().Payment.CallTimeout.D()+time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, ok, more := a.gw.merchantQR(o.No)
		if cur, err := a.payments.Get(o.No); err == nil {
			o = cur
		}
		if ok || o.State != payment.Sent {
			return o
		}
		select {
		case <-more:
		case <-tick.C: // the order may fail without a code
		case <-ctx.Done():
			return o
		}
	}
}

// isMerchantCode reports whether a pay request carries the merchant-qr marker.
func isMerchantCode(code string) bool { return strings.HasPrefix(code, merchantMarker) }

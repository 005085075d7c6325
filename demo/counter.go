package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/records"
)

// scan hands a code to the scanner it is meant for: the counter's while an order waits
// there, else the gate's. Without a counter scanner, a payment :pay prepared takes the
// code in its local API request.
func (c *Controls) scan(ctx context.Context, code, what string) {
	c.mu.Lock()
	waiting, held := c.waiting, c.held
	c.held = nil
	c.mu.Unlock()
	switch {
	case held != nil:
		c.Console.Line("demo", Plain, "%s: paying ¥%s with it through the local API", what, held.amount)
		c.createPayment(ctx, held.amount, held.subject, code)
		return
	case waiting != "" && c.PayScan != nil:
		c.Console.Line("demo", Plain, "%s, scanned at the counter (order %s waits for it)", what, waiting)
		if err := c.PayScan(code); err != nil {
			c.Console.Line("demo", Bad, "scan: %s", maskErr(err))
		}
		return
	case c.Scan == nil:
		c.Console.Line("demo", Warn, "no scanner to hand the code to")
		return
	}
	c.Console.Line("demo", Plain, "%s, scanned at the gate", what)
	if err := c.Scan(code); err != nil {
		c.Console.Line("demo", Bad, "scan: %s", maskErr(err))
	}
}

// Observe follows the agent's events: an order stops waiting for a code at the
// counter once it moved on or expired; a read at the medical counter is kept for :face.
func (c *Controls) Observe(e event.Event) {
	c.observeRead(e)
	if !strings.HasPrefix(string(e.Kind), "payment.") {
		return
	}
	no, _ := e.Data["orderNo"].(string)
	state, _ := e.Data["state"].(string)
	c.mu.Lock()
	defer c.mu.Unlock()
	if no == "" {
		return
	}
	if state == "CREATED" && e.Kind != "payment.expired" {
		if e.Scene == ScenePOS && c.PayScan != nil {
			c.waiting = no
		}
		return
	}
	if c.waiting == no {
		c.waiting = ""
	}
}

func (c *Controls) pay(ctx context.Context, args []string) {
	if len(args) == 0 {
		c.Console.Line("demo", Warn, "usage: :pay 12.50 [subject]")
		return
	}
	amt, err := records.ParseAmount(args[0])
	if err != nil || amt <= 0 {
		c.Console.Line("demo", Warn, "amount %q: yuan with at most two decimals, more than 0 (e.g. 12.50)", args[0])
		return
	}
	subject := strings.Join(args[1:], " ")
	if subject == "" {
		subject = "处方药品 (demo)"
	}
	if c.PayScan == nil {
		c.mu.Lock()
		c.held = &heldPay{amount: amt, subject: subject}
		c.mu.Unlock()
		c.Console.Line("demo", Accent, "¥%s %q: the next code scanned pays it (:qr issues one)", amt, subject)
		return
	}
	c.createPayment(ctx, amt, subject, "")
}

// createPayment is POST /v1/payments, as the counter's application makes it: without a
// code the order waits for the next code scanned at the counter.
func (c *Controls) createPayment(ctx context.Context, amt records.Amount, subject, code string) {
	req := map[string]any{"amount": int64(amt), "subject": subject}
	if code != "" {
		req["code"] = code
	}
	body, _ := json.Marshal(req)
	v, err := c.call(ctx, http.MethodPost, "/v1/payments", body)
	if err != nil {
		c.Console.Line("demo", Bad, "POST /v1/payments: %s", maskErr(err))
		return
	}
	no, _ := v["orderNo"].(string)
	state, _ := v["state"].(string)
	if w, _ := v["waitingForCode"].(bool); w {
		c.mu.Lock()
		c.waiting = no
		c.mu.Unlock()
		c.Console.Line("demo", Accent, "POST /v1/payments: order %s ¥%s %q waits for the holder's payment code at the counter: scan it now (:qr issues one)",
			no, amt, subject)
		return
	}
	c.Console.Line("demo", Accent, "POST /v1/payments: order %s ¥%s %q, %s", no, amt, subject, state)
}

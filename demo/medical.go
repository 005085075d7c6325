package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/records"
)

// The medical counter: a second virtual holder reader owned by the medical scene, where
// :medical puts the holder's card and settles on it (7.2.5 c) through the local API.
const (
	// MedicalReader is the medical scene's virtual holder reader.
	MedicalReader = "Virtual Card Reader 01 00"
	// Operator is the operator id the console's refunds carry (10.3.4 c).
	Operator = "demo-op-01"
	// noCard is card.CodeNoCard as the local API answers it.
	noCard = -2
)

// medical is ":medical 张三 ACCOUNT[,SELF[,FUND]] PIN": the person's card goes into the
// medical reader (unless it is there already, so that its purse keeps its balance), and
// POST /v1/medical/settle debits it. The PIN goes in the request only, never on a line
// (the console's line itself is the presenter's, as the kiosk's PIN pad would be).
func (c *Controls) medical(ctx context.Context, args []string) {
	const usage = "usage: :medical 张三|李四 ACCOUNT[,SELF[,FUND]] PIN  (yuan: 个人账户支付, 个人自付, 统筹基金支付; the test cards' PIN is 123456)"
	if len(args) != 3 {
		c.Console.Line("demo", Warn, "%s", usage)
		return
	}
	p, ok := PersonNamed(args[0])
	if !ok || p.Card == "" {
		c.Console.Line("demo", Warn, "%q has no physical card: %s", args[0], usage)
		return
	}
	amounts, err := parseAmounts(args[1])
	if err != nil {
		c.Console.Line("demo", Warn, "%s; %s", err, usage)
		return
	}
	c.mu.Lock()
	fresh := c.medCard != p.Card
	c.mu.Unlock()
	if fresh && !c.insertMedical(p) {
		return
	}
	body, _ := json.Marshal(map[string]any{"accountPay": int64(amounts[0]), "selfPay": int64(amounts[1]),
		"fundPay": int64(amounts[2]), "pin": args[2]})
	defer clear(body)
	// The agent sees a card a moment after it is inserted: until then it answers 无卡.
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := c.call(ctx, http.MethodPost, "/v1/medical/settle", body)
		if err != nil {
			c.Console.Line("demo", Bad, "POST /v1/medical/settle: %s", maskErr(err))
			return
		}
		if code, _ := v["code"].(float64); code == noCard && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		c.settled(v, amounts)
		return
	}
}

// insertMedical puts p's card into the medical counter's reader, replacing the card
// there. It prints why it could not.
func (c *Controls) insertMedical(p Person) bool {
	hub := c.hub()
	if hub == nil {
		c.Console.Line("demo", Warn, "no virtual card reader (cards.driver is not sim)")
		return false
	}
	icc, err := cardsim.LoadCard(p.Card)
	if err != nil {
		c.Console.Line("demo", Bad, "no such card: %s", maskErr(err))
		return false
	}
	hub.Remove(MedicalReader)
	if err := hub.Insert(MedicalReader, icc); err != nil {
		c.Console.Line("demo", Bad, "insert: %s", maskErr(err))
		return false
	}
	c.mu.Lock()
	c.medCard = p.Card
	c.mu.Unlock()
	c.Console.Line("demo", Plain, "inserted %s's card into %q", mask.Name(p.Name), MedicalReader)
	return true
}

// settled prints the answer of a settlement.
func (c *Controls) settled(v map[string]any, a [3]records.Amount) {
	state, _ := v["state"].(string)
	id, _ := v["settlementId"].(string)
	text := promptText(v)
	s, extra := Bad, ""
	if state == "debited" {
		s = Good
		by, _ := v["authBy"].(string)
		extra = " by " + by
		if b, ok := v["balance"].(float64); ok {
			extra += fmt.Sprintf(", personal account now ¥%s", records.Amount(b))
		}
	}
	c.Console.Line("demo", s, "POST /v1/medical/settle: settlement %s (个人账户 ¥%s, 自付 ¥%s, 统筹 ¥%s) %s%s%s",
		id, a[0], a[1], a[2], state, extra, text)
}

// parseAmounts reads "36.50" or "36.50,12.00,100.00": 个人账户支付, 个人自付, 统筹基金支付.
func parseAmounts(s string) ([3]records.Amount, error) {
	var out [3]records.Amount
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return out, fmt.Errorf("amounts %q: at most three", s)
	}
	var sum records.Amount
	for i, p := range parts {
		a, err := records.ParseAmount(p)
		if err != nil || a < 0 {
			return out, fmt.Errorf("amount %q: yuan with at most two decimals (e.g. 36.50)", p)
		}
		out[i] = a
		sum += a
	}
	if sum == 0 {
		return out, fmt.Errorf("amounts %q add up to nothing", s)
	}
	return out, nil
}

// refund is ":refund ORDER AMOUNT [reason]": POST /v1/payments/ORDER/refunds by the
// demo's operator.
func (c *Controls) refund(ctx context.Context, args []string) {
	if len(args) < 2 {
		c.Console.Line("demo", Warn, "usage: :refund ORDER AMOUNT [reason]  (a paid order; :ledger lists them)")
		return
	}
	amt, err := records.ParseAmount(args[1])
	if err != nil || amt <= 0 {
		c.Console.Line("demo", Warn, "amount %q: yuan with at most two decimals, more than 0 (e.g. 2.00)", args[1])
		return
	}
	req := map[string]any{"amount": int64(amt), "operator": Operator}
	if len(args) > 2 {
		req["reason"] = strings.Join(args[2:], " ")
	}
	body, _ := json.Marshal(req)
	path := "/v1/payments/" + url.PathEscape(args[0]) + "/refunds"
	v, err := c.call(ctx, http.MethodPost, path, body)
	if err != nil {
		c.Console.Line("demo", Bad, "POST %s: %s", path, maskErr(err))
		return
	}
	no, _ := v["refundNo"].(string)
	state, _ := v["state"].(string)
	s := Accent
	if state == "FAILED" || state == "NEEDS_MANUAL" {
		s = Bad
	}
	c.Console.Line("demo", s, "POST %s: refund %s ¥%s by operator %s, %s", path, no, amt, Operator, state)
}

package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// Person is one of the shared test identities the demo knows by name.
type Person struct {
	Name     string // 张三
	Pinyin   string // zhangsan
	IDNumber string // 社会保障号码
	// Card is the virtual card's profile name; "" for a person without a card.
	Card string
	// ECard: the person holds an electronic social security card.
	ECard bool
	// Note says what the sandbox does with this person.
	Note string
}

// People are the shared test identities (the sandbox's registry and the virtual cards).
var People = []Person{
	{"张三", "zhangsan", "350102199003077898", "zhangsan", true, "gen-3 SM4 card; e-card with payment"},
	{"李四", "lisi", "350121198511160027", "lisi", true, "gen-2 3DES card; e-card for identity only"},
	{"王五", "wangwu", "350103197001011235", "", true, "no card; e-card with payment"},
	{"赵六", "zhaoliu", "350203199512304560", "zhaoliu", false, "card reported lost: refused; no e-card"},
	{"钱七", "qianqi", "11010519491231002X", "", false, "unknown to the platform"},
}

// PersonNamed finds a person by Chinese name or pinyin (case ignored).
func PersonNamed(name string) (Person, bool) {
	for _, p := range People {
		if name == p.Name || strings.EqualFold(name, p.Pinyin) {
			return p, true
		}
	}
	return Person{}, false
}

// Controls are what the console commands act on. Nil fields make their commands answer
// that they are unavailable.
type Controls struct {
	Console *Console
	Sandbox *platformsim.Sandbox
	// Hub returns the virtual readers (driver sim), nil when there are none.
	Hub func() *simreader.Hub
	// API returns the local API's host:port, "" until it listens.
	API func() string
	// Token is the local API's bearer token.
	Token string
	// Scan hands a code to the gate's scanner (the agent's standard input).
	Scan func(code string) error
	// PayScan hands a code to the counter's scanner, where an order waits for it. Nil:
	// there is no counter scanner, and :pay sends the next code with its request (the
	// application scanned it itself).
	PayScan func(code string) error
	// Parts reports the agent's parts.
	Parts func() []agent.PartState
	// Quit stops the demo.
	Quit func()
	// HTTP calls the local API. Nil: a client with a 15s timeout.
	HTTP *http.Client

	mu      sync.Mutex // guards the fields below
	waiting string     // the order waiting for a code at the counter
	held    *heldPay   // without a counter scanner: the payment the next code pays
}

// heldPay is a payment :pay prepared when there is no counter scanner.
type heldPay struct {
	amount  records.Amount
	subject string
}

// Help is the console's command list.
const Help = `Type a line to scan it as a QR code, or a command:
  :insert 张三|李四|赵六   put a virtual card in the reader (pinyin works too: :insert lisi)
  :remove                 take the card out
  :qr 王五|张三|李四       the sandbox issues a fresh e-card code for that person; it is scanned
  :pay 12.50 [subject]    create a payment on the local API; the next scanned code pays it
  :fault SPEC | clear     make the sandbox misbehave, e.g. :fault backflow:http:count=3
                          (OP:KIND[:key=value], kinds latency http msgCode dropBefore dropAfter
                          delayAfter malformed badSignature wrongRequestId staleResponse)
  :ledger                 what the sandbox platform accepted (records, orders, balances)
  :queue                  the agent's record queue (local API GET /v1/queue)
  :status                 the agent's parts and status (local API GET /v1/status)
  :help                   this list;  :quit  stop (or Ctrl-C)
A line starting with "::" is scanned without its first ':'.
`

// Handle runs one line typed on the console. It never fails: problems are printed.
func (c *Controls) Handle(ctx context.Context, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if !strings.HasPrefix(line, ":") || strings.HasPrefix(line, "::") {
		code := strings.TrimPrefix(line, ":")
		c.scan(ctx, code, fmt.Sprintf("a code of %d characters from the console", len(code)))
		return
	}
	fields := strings.Fields(line[1:])
	if len(fields) == 0 {
		c.Console.Text(Plain, Help)
		return
	}
	cmd, args := strings.ToLower(fields[0]), fields[1:]
	switch cmd {
	case "help", "h", "?":
		c.Console.Text(Plain, Help)
	case "insert":
		c.insert(args)
	case "remove":
		c.remove()
	case "qr":
		c.qr(ctx, args)
	case "pay":
		c.pay(ctx, args)
	case "fault", "faults":
		c.fault(args)
	case "ledger":
		c.ledger()
	case "queue":
		c.get(ctx, "/v1/queue")
	case "status":
		c.status(ctx)
	case "quit", "exit", "q":
		if c.Quit != nil {
			c.Quit()
		}
	default:
		c.Console.Line("demo", Warn, "unknown command :%s (:help lists them)", cmd)
	}
}

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
// counter once it moved on or expired.
func (c *Controls) Observe(e event.Event) {
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

func (c *Controls) hub() *simreader.Hub {
	if c.Hub == nil {
		return nil
	}
	return c.Hub()
}

func (c *Controls) insert(args []string) {
	hub := c.hub()
	if hub == nil {
		c.Console.Line("demo", Warn, "no virtual card reader (cards.driver is not sim)")
		return
	}
	if len(args) != 1 {
		c.Console.Line("demo", Warn, "usage: :insert 张三|李四|赵六 (or a shipped profile: %s)", strings.Join(cardsim.ShippedNames(), ", "))
		return
	}
	profile, who := args[0], args[0] // a shipped profile or a file: no person's name
	if p, ok := PersonNamed(args[0]); ok {
		if p.Card == "" {
			c.Console.Line("demo", Warn, "%s has no physical card (%s); try :qr", mask.Name(p.Name), p.Note)
			return
		}
		profile, who = p.Card, mask.Name(p.Name)
	}
	if err := checkProfileFile(profile); err != nil {
		c.Console.Line("demo", Bad, "no such card %q: %s", args[0], maskErr(err))
		return
	}
	card, err := cardsim.LoadCard(profile)
	if err != nil {
		c.Console.Line("demo", Bad, "no such card %q: %s", args[0], maskErr(err))
		return
	}
	hub.Remove(readers.SimCardReader)
	if err := hub.Insert(readers.SimCardReader, card); err != nil {
		c.Console.Line("demo", Bad, "insert: %s", maskErr(err))
		return
	}
	c.Console.Line("demo", Plain, "inserted %s's card into %q", who, readers.SimCardReader)
}

// maxProfile bounds a card profile file (the shipped ones are under 2 KiB).
const maxProfile = 64 << 10

// checkProfileFile refuses a profile path that is not a small regular file, which
// cardsim would read whole (":insert /dev/zero").
func checkProfileFile(name string) error {
	if !strings.ContainsAny(name, `/\.`) {
		return nil // a shipped profile's name
	}
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", name)
	case fi.Size() > maxProfile:
		return fmt.Errorf("%s is larger than %d KiB: not a card profile", name, maxProfile>>10)
	}
	return nil
}

func (c *Controls) remove() {
	hub := c.hub()
	if hub == nil {
		c.Console.Line("demo", Warn, "no virtual card reader (cards.driver is not sim)")
		return
	}
	hub.Remove(readers.SimCardReader)
	c.Console.Line("demo", Plain, "removed the card from %q", readers.SimCardReader)
}

func (c *Controls) qr(ctx context.Context, args []string) {
	if len(args) != 1 {
		c.Console.Line("demo", Warn, "usage: :qr 王五|张三|李四")
		return
	}
	p, ok := PersonNamed(args[0])
	if !ok {
		c.Console.Line("demo", Warn, "unknown person %q: one of 张三 李四 王五 赵六 钱七", args[0])
		return
	}
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform to issue a code")
		return
	}
	code, exp, err := c.Sandbox.IssueQR(p.IDNumber)
	if err != nil {
		c.Console.Line("demo", Bad, "the sandbox issues no e-card code for %s: %s", mask.Name(p.Name), maskErr(err))
		return
	}
	// The code is a secret: only its length is shown.
	c.scan(ctx, code, fmt.Sprintf("the sandbox issued %s's e-card code (%d characters, valid until %s)",
		mask.Name(p.Name), len(code), exp.Local().Format("15:04:05")))
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

func (c *Controls) fault(args []string) {
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform")
		return
	}
	switch {
	case len(args) == 0:
		st := c.Sandbox.Faults()
		if len(st.Rules) == 0 {
			c.Console.Line("demo", Plain, "no faults installed (fired so far: %v)", st.Fired)
			return
		}
		for _, r := range st.Rules {
			j, _ := json.Marshal(r)
			c.Console.Line("demo", Plain, "fault %s", j)
		}
	case len(args) == 1 && args[0] == "clear":
		c.Sandbox.ClearFaults()
		c.Console.Line("demo", Plain, "faults cleared: the sandbox behaves again")
	default:
		var fs []platformsim.Fault
		for _, a := range args {
			f, err := platformsim.ParseFault(a)
			if err != nil {
				c.Console.Line("demo", Warn, "%v", err)
				return
			}
			fs = append(fs, f)
		}
		if err := c.Sandbox.AddFaults(fs...); err != nil {
			c.Console.Line("demo", Bad, "%v", err)
			return
		}
		c.Console.Line("demo", Warn, "fault installed: %s", strings.Join(args, " "))
	}
}

func (c *Controls) ledger() {
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform")
		return
	}
	l := c.Sandbox.Ledger()
	kinds := map[string]int{}
	dups := 0
	for _, r := range l.Records {
		kinds[r.Kind]++
		dups += r.Duplicates
	}
	c.Console.Line("ledger", Accent, "records stored %d (by kind: %s), duplicates de-duplicated %d, refused %d",
		len(l.Records), tally(kinds), dups, len(l.RejectedRecords))
	for _, k := range slices.Sorted(maps.Keys(l.Payments)) {
		p := l.Payments[k]
		c.Console.Line("ledger", Accent, "order %s %s ¥%s payer %s", p.OrderNo, p.State, p.Amount, p.Payer)
	}
	var bal []string
	for _, p := range People {
		if !p.ECard {
			continue
		}
		bal = append(bal, mask.Name(p.Name)+" ¥"+c.Sandbox.Balance(p.IDNumber))
	}
	c.Console.Line("ledger", Accent, "e-card balances: %s", strings.Join(bal, ", "))
	c.Console.Line("ledger", Accent, "calls answered 000000: %s", tally(l.Requests))
}

// noteBacklog says, at the end, how many records had not flowed back yet and what
// becomes of them.
func (c *Controls) noteBacklog(keep bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := c.call(ctx, http.MethodGet, "/v1/queue", nil)
	if err != nil {
		return
	}
	var n float64
	q, _ := v["queue"].(map[string]any)
	lanes, _ := q["lanes"].(map[string]any)
	for _, l := range lanes {
		if m, ok := l.(map[string]any); ok {
			d, _ := m["depth"].(float64)
			n += d
		}
	}
	switch {
	case n == 0:
	case keep:
		c.Console.Line("demo", Warn, "%.0f record(s) had not flowed back yet: kept in the queue for the next run", n)
	default:
		c.Console.Line("demo", Warn, "%.0f record(s) had not flowed back yet: they go with the scratch directory (--keep keeps them)", n)
	}
}

// tally renders counts as "a 1, b 2", by key, or "none".
func tally(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (c *Controls) status(ctx context.Context) {
	if c.Parts != nil {
		var ps []string
		for _, p := range c.Parts() {
			s := p.Name + " " + p.State
			if p.Restarts > 0 {
				s += fmt.Sprintf(" (%d restarts)", p.Restarts)
			}
			ps = append(ps, s)
		}
		c.Console.Line("demo", Plain, "parts: %s", strings.Join(ps, ", "))
	}
	c.get(ctx, "/v1/status")
}

func (c *Controls) get(ctx context.Context, path string) {
	v, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		c.Console.Line("demo", Bad, "GET %s: %s", path, maskErr(err))
		return
	}
	j, _ := json.Marshal(v)
	c.Console.Line("demo", Plain, "GET %s: %s", path, j)
}

// call makes one local API request with the bearer token and decodes the JSON object
// it answers; an error status becomes an error carrying the API's message and prompt.
func (c *Controls) call(ctx context.Context, method, path string, body []byte) (map[string]any, error) {
	addr := ""
	if c.API != nil {
		addr = c.API()
	}
	if addr == "" {
		return nil, errors.New("the local API is not listening (yet)")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: answer is not a JSON object: %.80q", resp.Status, b)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
				Prompts struct {
					Operator string `json:"operator"`
					Code     string `json:"code"`
				} `json:"prompts"`
				Fields []struct{ Field, Reason string } `json:"fields"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		msg := fmt.Sprintf("%s: %s (%s [%s])", resp.Status, e.Error.Message, e.Error.Prompts.Operator, e.Error.Prompts.Code)
		for _, f := range e.Error.Fields {
			msg += fmt.Sprintf("; %s: %s", f.Field, f.Reason)
		}
		return nil, errors.New(msg)
	}
	return v, nil
}

package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform"
)

const crashEnv = "SSCAGENT_PAYMENT_CRASH_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(crashEnv); mode != "" {
		os.Exit(crashChild(mode))
	}
	os.Exit(m.Run())
}

// simPlatform is the parent's payment platform: it keeps every order and every call, so
// what a killed child did stays on record. Each new order gets a random behaviour.
type simPlatform struct {
	srv *httptest.Server

	mu     sync.Mutex // guards the fields below
	rng    *rand.Rand
	orders map[string]*simOrder
	codes  map[string]int // code -> pay calls
	bad    []string       // rule violations seen by the platform
}

type simOrder struct {
	code     string
	amount   int64
	state    string // paying, paid, closed, reversed
	plan     int
	queries  int
	pays     int
	refunded bool // reversed after being paid
	payAt    time.Time
}

// settle applies what a planPaysLate holder did: the payment completes between the
// terminal's last query and its reverse (the race WeChat's closed-loop guide warns of),
// or after a long time when the terminal was down meanwhile.
func (o *simOrder) settle(reversing bool) {
	if o.plan == planPaysLate && o.state == "paying" && (reversing || time.Since(o.payAt) > 2*time.Second) {
		o.state = "paid"
	}
}

const (
	planPaid = iota
	planPaidAfterQueries
	planNeverPays
	planSlowPaid // processes, answers after the client's timeout
	planReject
	planHangUp // processes, drops the connection
	planPaysLate
	numPlans
)

func newSimPlatform(t *testing.T) *simPlatform {
	p := &simPlatform{rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		orders: map[string]*simOrder{}, codes: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pay", p.pay)
	mux.HandleFunc("POST /query", p.query)
	mux.HandleFunc("POST /reverse", p.reverse)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

type wire struct {
	OrderNo string `json:"orderNo"`
	Amount  int64  `json:"amount,omitempty"`
	Code    string `json:"code,omitempty"`
	Status  string `json:"status,omitempty"`
	TradeNo string `json:"tradeNo,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func (p *simPlatform) pay(w http.ResponseWriter, r *http.Request) {
	var req wire
	_ = json.NewDecoder(r.Body).Decode(&req)
	p.mu.Lock()
	p.codes[req.Code]++
	if p.codes[req.Code] > 1 {
		p.bad = append(p.bad, "code submitted twice: "+req.Code)
	}
	o := p.orders[req.OrderNo]
	if o != nil && o.state == "reversed" && o.code == "" {
		// Reversed before the pay arrived: the order number is closed for good.
		o.pays++
		p.mu.Unlock()
		writeWire(w, wire{Status: "rejected", Reason: "order closed"})
		return
	}
	if o != nil {
		o.pays++
		p.bad = append(p.bad, "pay sent twice for order "+req.OrderNo)
		p.mu.Unlock()
		writeWire(w, wire{Status: "rejected", Reason: "duplicate order"})
		return
	}
	o = &simOrder{code: req.Code, amount: req.Amount, state: "paying", plan: p.rng.IntN(numPlans), pays: 1, payAt: time.Now()}
	p.orders[req.OrderNo] = o
	plan := o.plan
	switch plan {
	case planPaid, planSlowPaid, planHangUp:
		o.state = "paid"
	case planReject:
		o.state = "closed"
	}
	p.mu.Unlock()
	switch plan {
	case planPaid:
		writeWire(w, wire{Status: "paid", TradeNo: "TN-" + req.OrderNo})
	case planPaidAfterQueries, planNeverPays, planPaysLate:
		writeWire(w, wire{Status: "userpaying"})
	case planSlowPaid:
		select {
		case <-time.After(800 * time.Millisecond): // beyond the client's callTimeout
		case <-r.Context().Done():
		}
		writeWire(w, wire{Status: "paid", TradeNo: "TN-" + req.OrderNo})
	case planReject:
		writeWire(w, wire{Status: "rejected", Reason: "余额不足"})
	case planHangUp:
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = c.Close()
		}
	}
}

func (p *simPlatform) query(w http.ResponseWriter, r *http.Request) {
	var req wire
	_ = json.NewDecoder(r.Body).Decode(&req)
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.orders[req.OrderNo]
	if o == nil {
		writeWire(w, wire{Status: "notfound"})
		return
	}
	o.queries++
	o.settle(false)
	if o.plan == planPaidAfterQueries && o.state == "paying" && o.queries >= 2 {
		o.state = "paid"
	}
	switch o.state {
	case "paying":
		writeWire(w, wire{Status: "userpaying"})
	case "paid":
		writeWire(w, wire{Status: "paid", TradeNo: "TN-" + req.OrderNo})
	default:
		writeWire(w, wire{Status: o.state})
	}
}

func (p *simPlatform) reverse(w http.ResponseWriter, r *http.Request) {
	var req wire
	_ = json.NewDecoder(r.Body).Decode(&req)
	p.mu.Lock()
	o := p.orders[req.OrderNo]
	if o == nil {
		o = &simOrder{} // closes the number: a late pay is refused
		p.orders[req.OrderNo] = o
	}
	o.settle(true)
	if o.state == "paid" {
		o.refunded = true
	}
	o.state = "reversed"
	p.mu.Unlock()
	writeWire(w, wire{Status: "reversed"})
}

func writeWire(w http.ResponseWriter, v wire) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// httpGateway is the child's Gateway to the parent's platform.
type httpGateway struct{ base string }

func (g httpGateway) call(ctx context.Context, path string, in wire) (wire, error) {
	b, _ := json.Marshal(in)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		class := platform.ClassUnknown
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			class = platform.ClassRetryable
		}
		return wire{}, &platform.Error{Op: path, Class: class, Err: err}
	}
	defer resp.Body.Close()
	var out wire
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return wire{}, &platform.Error{Op: path, Class: platform.ClassUnverified, Err: err}
	}
	if out.Status == "rejected" {
		return out, &platform.Error{Op: path, Class: platform.ClassRejected, MsgCode: "500101", Msg: out.Reason}
	}
	return out, nil
}

var statuses = map[string]Status{"paid": StatusPaid, "userpaying": StatusUserPaying, "notfound": StatusNotFound,
	"closed": StatusClosed, "reversed": StatusReversed}

func (g httpGateway) Pay(ctx context.Context, r PayRequest) (Result, error) {
	out, err := g.call(ctx, "/pay", wire{OrderNo: r.OrderNo, Amount: r.Amount, Code: r.Code})
	return Result{Status: statuses[out.Status], TradeNo: out.TradeNo, Reason: out.Reason}, err
}

func (g httpGateway) Query(ctx context.Context, no string) (Result, error) {
	out, err := g.call(ctx, "/query", wire{OrderNo: no})
	return Result{Status: statuses[out.Status], TradeNo: out.TradeNo}, err
}

func (g httpGateway) Reverse(ctx context.Context, no string) (ReverseResult, error) {
	out, err := g.call(ctx, "/reverse", wire{OrderNo: no})
	return ReverseResult{Done: err == nil && out.Status == "reversed"}, err
}

func crashConfig() Config {
	ms := func(n int) config.Duration { return config.Duration(time.Duration(n) * time.Millisecond) }
	return Config{CallTimeout: ms(300), QueryDelay: ms(20), QueryInterval: ms(30), QueryFor: ms(500),
		ReverseInterval: ms(20), ReverseAttempts: 10, Retention: config.Duration(time.Hour), LockTimeout: ms(20000)}
}

// crashChild runs orders ("work", until killed) or finishes what is open ("final").
func crashChild(mode string) int {
	m, err := Open(os.Getenv("CRASH_DB"), Options{Terminal: "POS-CRASH", Gateway: httpGateway{os.Getenv("CRASH_URL")}, Config: crashConfig()})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		m.mu.Lock()
		up := m.runCtx != nil
		m.mu.Unlock()
		if up || time.Now().After(deadline) {
			break
		}
	}
	if mode == "final" {
		for {
			st, err := m.Stats()
			if err == nil && st.Open == 0 {
				break
			}
			if ctx.Err() != nil {
				fmt.Println("ERROR orders still open")
				return 1
			}
			time.Sleep(10 * time.Millisecond)
		}
		all, _ := m.List()
		for _, o := range all {
			b, _ := json.Marshal(o)
			fmt.Printf("ORDER %s\n", b)
		}
		cancel()
		<-done
		_ = m.Close()
		return 0
	}
	round := os.Getenv("CRASH_ROUND")
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				o, err := m.Create(ctx, Request{Amount: int64(100 + i), Subject: "crash test"})
				if err != nil {
					continue
				}
				if _, err := m.Pay(ctx, o.No, fmt.Sprintf("CODE-%s-%d-%d", round, w, i)); err != nil {
					continue
				}
				wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
				_, _ = m.Wait(wctx, o.No)
				wcancel()
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashPayments kills a child running payments at random moments, many times, then
// lets a last child finish what is open. No code may reach the platform twice, no order
// may be left open, and the terminal's final states must agree with the platform's
// books: SUCCESS exactly for the orders the platform kept the money of.
// SSCAGENT_CRASH_ROUNDS sets the number of rounds (default 20).
func TestCrashPayments(t *testing.T) {
	rounds := labtest.CrashRounds(20)
	sim := newSimPlatform(t)
	path := filepath.Join(t.TempDir(), "payments.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	child := func(mode string, round int, kill time.Duration) []string {
		return labtest.RunChild(t, kill, crashEnv+"="+mode, "CRASH_DB="+path, "CRASH_URL="+sim.srv.URL,
			"CRASH_ROUND="+strconv.Itoa(round))
	}
	for r := range rounds {
		child("work", r, time.Duration(30+rng.IntN(300))*time.Millisecond)
	}
	lines := child("final", rounds, 0)

	orders := map[string]Order{}
	for _, l := range lines {
		if js, ok := strings.CutPrefix(l, "ORDER "); ok {
			var o Order
			if err := json.Unmarshal([]byte(js), &o); err != nil {
				t.Fatal(err)
			}
			orders[o.No] = o
		}
	}
	sim.mu.Lock()
	defer sim.mu.Unlock()
	for _, b := range sim.bad {
		t.Error("platform saw: " + b)
	}
	count := map[State]int{}
	for no, o := range orders {
		count[o.State]++
		if !o.State.Final() {
			t.Errorf("order %s left %s", no, o.State)
		}
		so := sim.orders[no]
		charged := so != nil && so.state == "paid"
		switch {
		case o.State == Success && !charged:
			t.Errorf("order %s SUCCESS on the terminal, platform has %+v", no, so)
		case o.State != Success && charged:
			t.Errorf("order %s %s on the terminal but the platform kept the money", no, o.State)
		case o.State == Reversed && (so == nil || so.state != "reversed"):
			t.Errorf("order %s REVERSED on the terminal, platform has %+v", no, so)
		case o.State == NeedsManual:
			t.Errorf("order %s needs a person: %s", no, o.Reason)
		}
	}
	for no := range sim.orders {
		if _, ok := orders[no]; !ok {
			t.Errorf("the platform saw order %s, which the terminal does not know", no)
		}
	}
	refunds := 0
	for _, so := range sim.orders {
		if so.refunded {
			refunds++
		}
	}
	if len(orders) < rounds {
		t.Fatalf("only %d orders in %d rounds", len(orders), rounds)
	}
	t.Logf("%d rounds, %d orders: %v; %d codes sent; %d reversals refunded a payment",
		rounds, len(orders), count, len(sim.codes), refunds)
}

package payment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
)

// fakeGW is a scripted gateway for the state machine's unit tests. The crash test uses a
// real HTTP platform in the parent process instead.
type fakeGW struct {
	mu       sync.Mutex
	pay      func(r PayRequest) (Result, error)
	query    func(no string, n int) (Result, error)
	reverse  func(no string, n int) (ReverseResult, error)
	pays     map[string]int // order -> pay calls
	codes    map[string]int // code -> pay calls
	queries  map[string]int
	reverses map[string]int
	payAt    map[string]time.Time
	revAt    map[string]time.Time
	payed    chan string // receives the order number of each pay call
}

func newGW() *fakeGW {
	return &fakeGW{pays: map[string]int{}, codes: map[string]int{}, queries: map[string]int{},
		reverses: map[string]int{}, payAt: map[string]time.Time{}, revAt: map[string]time.Time{},
		payed: make(chan string, 100)}
}

func (g *fakeGW) Pay(ctx context.Context, r PayRequest) (Result, error) {
	g.mu.Lock()
	g.pays[r.OrderNo]++
	g.codes[r.Code]++
	g.payAt[r.OrderNo] = time.Now()
	f := g.pay
	g.mu.Unlock()
	g.payed <- r.OrderNo
	if f == nil {
		return Result{Status: StatusPaid, TradeNo: "TN-" + r.OrderNo}, nil
	}
	return f(r)
}

func (g *fakeGW) Query(ctx context.Context, no string) (Result, error) {
	g.mu.Lock()
	g.queries[no]++
	n, f := g.queries[no], g.query
	g.mu.Unlock()
	if f == nil {
		return Result{Status: StatusNotFound}, nil
	}
	return f(no, n)
}

func (g *fakeGW) Reverse(ctx context.Context, no string) (ReverseResult, error) {
	g.mu.Lock()
	g.reverses[no]++
	if _, ok := g.revAt[no]; !ok {
		g.revAt[no] = time.Now()
	}
	n, f := g.reverses[no], g.reverse
	g.mu.Unlock()
	if f == nil {
		return ReverseResult{Done: true}, nil
	}
	return f(no, n)
}

func (g *fakeGW) count(m map[string]int, k string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return m[k]
}

func fastConfig() Config {
	ms := func(n int) config.Duration { return config.Duration(time.Duration(n) * time.Millisecond) }
	return Config{CallTimeout: ms(300), QueryDelay: ms(10), QueryInterval: ms(10), QueryFor: ms(150),
		ReverseInterval: ms(10), ReverseAttempts: 3, Retention: config.Duration(time.Hour), LockTimeout: ms(2000)}
}

type harness struct {
	m       *Manager
	mu      sync.Mutex
	changes []Order
	changed chan struct{} // closed and replaced at each change
	stop    func()
}

// run opens a manager on path and runs it until stop (or the end of the test).
func run(t *testing.T, path string, gw Gateway, c Config) *harness {
	t.Helper()
	h := &harness{changed: make(chan struct{})}
	rg, _ := gw.(RefundGateway)
	m, err := Open(path, Options{Terminal: "POS-01", Gateway: gw, Refunds: rg, Config: c, OnChange: func(o Order) {
		h.mu.Lock()
		h.changes = append(h.changes, o)
		close(h.changed)
		h.changed = make(chan struct{})
		h.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
		close(done)
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			_ = m.Close()
		})
	}
	t.Cleanup(h.stop)
	// Pay needs Run to be up.
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		up := m.runCtx != nil
		m.mu.Unlock()
		if up || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return h
}

// states returns the states OnChange reported for an order, once it has reported the
// order's stored state: the manager wakes Wait before it calls OnChange, so a test that
// waited for the order can be ahead of its OnChange.
func (h *harness) states(no string) []State {
	cur, err := h.m.Get(no)
	timeout := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		var out []State
		for _, o := range h.changes {
			if o.No == no && (len(out) == 0 || out[len(out)-1] != o.State) {
				out = append(out, o.State)
			}
		}
		changed := h.changed
		h.mu.Unlock()
		if err != nil || len(out) > 0 && out[len(out)-1] == cur.State {
			return out
		}
		select {
		case <-changed:
		case <-timeout:
			return out // the caller's comparison fails and shows what was reported
		}
	}
}

// payAndWait creates an order, pays it with code and waits for the end.
func payAndWait(t *testing.T, h *harness, code string) Order {
	t.Helper()
	o, err := h.m.Create(context.Background(), Request{Amount: 1250, Subject: "门诊挂号费"})
	if err != nil {
		t.Fatal(err)
	}
	if o.State != Created || !strings.HasPrefix(o.No, "POS-01-") || len(o.No) != len("POS-01-")+16 {
		t.Fatalf("created %+v", o)
	}
	if _, err := h.m.Pay(context.Background(), o.No, code); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err = h.m.Wait(ctx, o.No)
	if err != nil {
		t.Fatalf("wait: %v (order %+v)", err, o)
	}
	return o
}

func rejected(msg string) error {
	return &platform.Error{Op: "micropay", Class: platform.ClassRejected, MsgCode: "500101", Msg: msg}
}

func TestPaidAtOnce(t *testing.T) {
	gw := newGW()
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
	o := payAndWait(t, h, "CODE-1")
	if o.State != Success || o.TradeNo != "TN-"+o.No || o.Finished.IsZero() || o.PromptCode() != CodePaid {
		t.Fatalf("order %+v", o)
	}
	if got := fmt.Sprint(h.states(o.No)); got != "[CREATED SENT SUCCESS]" {
		t.Fatalf("states %s", got)
	}
	if gw.count(gw.queries, o.No) != 0 || gw.count(gw.reverses, o.No) != 0 {
		t.Fatal("paid order was queried or reversed")
	}
}

func TestCodeNeverSubmittedTwice(t *testing.T) {
	gw := newGW()
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
	payAndWait(t, h, "CODE-SAME")
	o2, _ := h.m.Create(context.Background(), Request{Amount: 100, Subject: "x"})
	_, err := h.m.Pay(context.Background(), o2.No, "CODE-SAME")
	if !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("second use of a code: %v", err)
	}
	if gw.count(gw.codes, "CODE-SAME") != 1 {
		t.Fatal("code sent twice")
	}
	// The order still waits for a (new) code.
	if o, _ := h.m.Get(o2.No); o.State != Created {
		t.Fatalf("order after a refused code: %+v", o)
	}
	// A second code for an order that has one is refused too.
	if _, err := h.m.Pay(context.Background(), o2.No, "CODE-NEW"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Pay(context.Background(), o2.No, "CODE-NEWER"); !errors.Is(err, ErrState) && !errors.Is(err, ErrFinal) {
		t.Fatalf("second code for one order: %v", err)
	}
}

func TestUserPayingThenPaid(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(no string, n int) (Result, error) {
		if n < 3 {
			return Result{Status: StatusUserPaying}, nil
		}
		return Result{Status: StatusPaid, TradeNo: "TN-Q"}, nil
	}
	c := fastConfig()
	c.QueryFor = config.Duration(time.Minute) // success must come from the queries, not a deadline
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, c)
	o := payAndWait(t, h, "C")
	if o.State != Success || o.TradeNo != "TN-Q" || o.Queries != 3 {
		t.Fatalf("order %+v", o)
	}
	if got := fmt.Sprint(h.states(o.No)); got != "[CREATED SENT QUERYING SUCCESS]" {
		t.Fatalf("states %s", got)
	}
}

func TestNoResultReversed(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	c := fastConfig()
	c.MinReverseDelay = config.Duration(200 * time.Millisecond) // longer than QueryFor
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, c)
	o := payAndWait(t, h, "C")
	if o.State != Reversed || o.Reverses != 1 || !strings.Contains(o.Reason, "no final result") {
		t.Fatalf("order %+v", o)
	}
	if got := fmt.Sprint(h.states(o.No)); got != "[CREATED SENT QUERYING REVERSING REVERSED]" {
		t.Fatalf("states %s", got)
	}
	gw.mu.Lock()
	gap := gw.revAt[o.No].Sub(o.Sent)
	gw.mu.Unlock()
	if gap < 200*time.Millisecond {
		t.Fatalf("reversed %s after sending the code; minReverseDelay is 200ms", gap)
	}
	if gw.count(gw.pays, o.No) != 1 {
		t.Fatal("pay repeated")
	}
}

func TestUnknownOutcomeQueried(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) {
		return Result{}, &platform.Error{Op: "micropay", Class: platform.ClassUnknown, Err: errors.New("read timeout")}
	}
	gw.query = func(no string, n int) (Result, error) {
		if n == 1 {
			return Result{}, &platform.Error{Op: "query", Class: platform.ClassUnverified, Err: errors.New("bad signature")}
		}
		return Result{Status: StatusPaid, TradeNo: "TN"}, nil
	}
	c := fastConfig()
	c.QueryFor = config.Duration(time.Minute)
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, c)
	o := payAndWait(t, h, "C")
	if o.State != Success || o.Queries != 2 {
		t.Fatalf("order %+v", o)
	}
	if got := fmt.Sprint(h.states(o.No)); got != "[CREATED SENT UNKNOWN QUERYING SUCCESS]" {
		t.Fatalf("states %s", got)
	}
}

func TestPayTimeoutIsUnknown(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) {
		time.Sleep(50 * time.Millisecond)
		return Result{}, context.DeadlineExceeded // unclassified: must be unknown, never failure
	}
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusPaid}, nil }
	c := fastConfig()
	c.QueryFor = config.Duration(time.Minute)
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, c)
	if o := payAndWait(t, h, "C"); o.State != Success {
		t.Fatalf("order %+v", o)
	}
}

func TestRejectedAndUnreachableFail(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"rejected", rejected("余额不足"), "refused by the platform"},
		{"retryable", &platform.Error{Op: "micropay", Class: platform.ClassRetryable, Err: errors.New("connection refused")}, "nothing was charged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGW()
			gw.pay = func(PayRequest) (Result, error) { return Result{}, tc.err }
			h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
			o := payAndWait(t, h, "C")
			if o.State != Failed || !strings.Contains(o.Reason, tc.want) || o.PromptCode() != CodeFailed {
				t.Fatalf("order %+v", o)
			}
			if gw.count(gw.queries, o.No)+gw.count(gw.reverses, o.No) != 0 {
				t.Fatal("a definite failure was queried or reversed")
			}
		})
	}
}

func TestReverseExhaustedNeedsManual(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.reverse = func(string, int) (ReverseResult, error) {
		return ReverseResult{}, &platform.Error{Op: "reverse", Class: platform.ClassUnknown, Err: errors.New("timeout")}
	}
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
	o := payAndWait(t, h, "C")
	if o.State != NeedsManual || o.Reverses != 3 || gw.count(gw.reverses, o.No) != 3 || o.PromptCode() != CodeNeedsManual {
		t.Fatalf("order %+v, reverse calls %d", o, gw.count(gw.reverses, o.No))
	}
	st, _ := h.m.Stats()
	if st.NeedsManual != 1 || st.Open != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReverseRetryThenDone(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.reverse = func(_ string, n int) (ReverseResult, error) {
		return ReverseResult{Done: n == 2, Reason: "正在支付中不能撤销"}, nil
	}
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
	if o := payAndWait(t, h, "C"); o.State != Reversed || o.Reverses != 2 {
		t.Fatalf("order %+v", o)
	}
}

func TestReverseRejectedNeedsManual(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.reverse = func(string, int) (ReverseResult, error) { return ReverseResult{}, rejected("超过撤销期限") }
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, fastConfig())
	if o := payAndWait(t, h, "C"); o.State != NeedsManual || o.Reverses != 1 {
		t.Fatalf("order %+v", o)
	}
}

// TestSettleNeedsManual: a person settles a NEEDS_MANUAL order once (the note required
// and masked); it then no longer counts as waiting, says so in its prompt, and a pruning
// that would have removed it before being settled keeps it until then.
func TestSettleNeedsManual(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.reverse = func(string, int) (ReverseResult, error) { return ReverseResult{}, rejected("超过撤销期限") }
	path := filepath.Join(t.TempDir(), "payments.db")
	h := run(t, path, gw, fastConfig())
	o := payAndWait(t, h, "C")
	if o.State != NeedsManual {
		t.Fatalf("order %+v", o)
	}
	ctx := context.Background()
	for _, note := range []string{"", "   ", strings.Repeat("长", maxNote+1)} {
		if _, err := h.m.Settle(ctx, o.No, true, note, "op-07"); !errors.Is(err, ErrInvalid) {
			t.Errorf("note %q: %v, want ErrInvalid", note, err)
		}
	}
	if _, err := h.m.Settle(ctx, "POS-01-0000000000000999", true, "x", "op-07"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown order: %v", err)
	}
	for _, op := range []string{"", "has space", strings.Repeat("x", 33)} {
		if _, err := h.m.Settle(ctx, o.No, true, "平台已扣款", op); !errors.Is(err, ErrInvalid) {
			t.Errorf("operator %q: %v, want ErrInvalid", op, err)
		}
	}

	// Two months on, nobody has settled it yet: pruning keeps it.
	h.stop()
	later := time.Now().Add(60 * 24 * time.Hour)
	m, err := Open(path, Options{Terminal: "POS-01", Gateway: gw, Config: fastConfig(), Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	m.prune(ctx)
	if _, err := m.Get(o.No); err != nil {
		t.Fatalf("an unsettled NEEDS_MANUAL order was pruned: %v", err)
	}
	m.Close()

	h = run(t, path, gw, fastConfig())
	got, err := h.m.Settle(ctx, o.No, true, "平台对账：已扣款 12.50 元，持卡人 350102199003077898 同意不退款", "op-07")
	if err != nil {
		t.Fatal(err)
	}
	if got.Settled == nil || !got.Settled.Paid || got.Settled.Operator != "op-07" || got.State != NeedsManual || got.PromptCode() != CodeSettled ||
		strings.Contains(got.Settled.Note, "350102199003077898") || !strings.Contains(got.Settled.Note, "平台对账") {
		t.Fatalf("settled order %+v %+v", got, got.Settled)
	}
	if st, _ := h.m.Stats(); st.NeedsManual != 0 || st.ByState[NeedsManual] != 1 {
		t.Fatalf("stats after settling %+v", st)
	}
	if states := h.states(o.No); len(states) == 0 || states[len(states)-1] != NeedsManual {
		t.Fatalf("no change reported: %v", states)
	}
	h.mu.Lock()
	n := len(h.changes)
	h.mu.Unlock()
	if again, err := h.m.Settle(ctx, o.No, true, "again", "op-07"); err != nil || again.Settled.Note != got.Settled.Note {
		t.Fatalf("settled again the same way: %+v %v", again.Settled, err)
	}
	h.mu.Lock()
	if len(h.changes) != n {
		t.Error("settling again the same way reported a change")
	}
	h.mu.Unlock()
	if _, err := h.m.Settle(ctx, o.No, false, "other way", "op-07"); !errors.Is(err, ErrState) {
		t.Fatalf("settled the other way: %v, want ErrState", err)
	}
	// Only NEEDS_MANUAL orders are settled.
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusPaid, TradeNo: "T1"}, nil }
	paid := payAndWait(t, h, "D")
	if _, err := h.m.Settle(ctx, paid.No, true, "x", "op-07"); !errors.Is(err, ErrState) {
		t.Fatalf("settle a %s order: %v, want ErrState", paid.State, err)
	}
}

func TestCancel(t *testing.T) {
	gw := newGW()
	gw.pay = func(PayRequest) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	gw.query = func(string, int) (Result, error) { return Result{Status: StatusUserPaying}, nil }
	c := fastConfig()
	c.QueryFor = config.Duration(2 * time.Minute) // only the cancel can end the querying
	c.QueryInterval = config.Duration(time.Minute)
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), gw, c)
	ctx := context.Background()

	// Before a code: fails at once, nothing sent.
	o, _ := h.m.Create(ctx, Request{Amount: 1, Subject: "x"})
	o, err := h.m.Cancel(ctx, o.No)
	if err != nil || o.State != Failed || o.PromptCode() != CodeCancelled {
		t.Fatalf("cancel before code: %+v %v", o, err)
	}
	if _, err := h.m.Cancel(ctx, o.No); !errors.Is(err, ErrFinal) {
		t.Fatalf("second cancel: %v", err)
	}
	if _, err := h.m.Pay(ctx, o.No, "C0"); !errors.Is(err, ErrFinal) {
		t.Fatalf("pay after cancel: %v", err)
	}

	// While querying: one more query, then reverse, long before QueryFor.
	o, _ = h.m.Create(ctx, Request{Amount: 1, Subject: "x"})
	if _, err := h.m.Pay(ctx, o.No, "C1"); err != nil {
		t.Fatal(err)
	}
	for gw.count(gw.queries, o.No) == 0 {
		time.Sleep(time.Millisecond)
	}
	before := gw.count(gw.queries, o.No)
	if _, err := h.m.Cancel(ctx, o.No); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	o, err = h.m.Wait(wctx, o.No)
	if err != nil || o.State != Reversed || !strings.Contains(o.Reason, "cancelled by the cashier") {
		t.Fatalf("cancel while querying: %+v %v", o, err)
	}
	if q := gw.count(gw.queries, o.No); q != before+1 {
		t.Fatalf("%d queries after the cancel, want exactly one more", q-before)
	}

	// A paid order cannot be cancelled.
	gw.mu.Lock()
	gw.pay = nil
	gw.mu.Unlock()
	paid := payAndWait(t, h, "C2")
	if _, err := h.m.Cancel(ctx, paid.No); !errors.Is(err, ErrFinal) {
		t.Fatalf("cancel of a paid order: %v", err)
	}
	if _, err := h.m.Cancel(ctx, "POS-01-9999999999999999"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel of an unknown order: %v", err)
	}
}

// TestResumeAfterRestart stops the agent during the pay call: the next start must query,
// never pay again, and end the order.
func TestResumeAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payments.db")
	gw1 := newGW()
	gw1.pay = func(PayRequest) (Result, error) { select {} } // the platform never answers
	h1 := run(t, path, newBlockingGW(gw1), fastConfig())
	o, _ := h1.m.Create(context.Background(), Request{Amount: 500, Subject: "x"})
	waiting, _ := h1.m.Create(context.Background(), Request{Amount: 600, Subject: "y"})
	if _, err := h1.m.Pay(context.Background(), o.No, "CODE-R"); err != nil {
		t.Fatal(err)
	}
	<-gw1.payed
	h1.stop() // the agent stops (or dies) during the call

	gw2 := newGW()
	gw2.query = func(string, int) (Result, error) { return Result{Status: StatusPaid, TradeNo: "TN-late"}, nil }
	h2 := run(t, path, gw2, fastConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := h2.m.Wait(ctx, o.No)
	if err != nil || got.State != Success || got.TradeNo != "TN-late" {
		t.Fatalf("resumed order %+v %v", got, err)
	}
	if gw2.count(gw2.pays, o.No) != 0 {
		t.Fatal("paid again after the restart")
	}
	if s := fmt.Sprint(h2.states(o.No)); s != "[UNKNOWN QUERYING SUCCESS]" {
		t.Fatalf("states after restart %s", s)
	}
	// The order that was waiting for a code when the agent stopped fails: nothing sent.
	w, _ := h2.m.Wait(ctx, waiting.No)
	if w.State != Failed || !strings.Contains(w.Reason, "before a code was submitted") {
		t.Fatalf("waiting order after restart %+v", w)
	}
	// And the code stays used across the restart.
	o3, _ := h2.m.Create(ctx, Request{Amount: 1, Subject: "z"})
	if _, err := h2.m.Pay(ctx, o3.No, "CODE-R"); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("code reused after restart: %v", err)
	}
}

// blockingGW makes the wrapped gateway's pay call end only with its context.
type blockingGW struct{ *fakeGW }

func newBlockingGW(g *fakeGW) blockingGW { return blockingGW{g} }

func (g blockingGW) Pay(ctx context.Context, r PayRequest) (Result, error) {
	g.mu.Lock()
	g.pays[r.OrderNo]++
	g.codes[r.Code]++
	g.mu.Unlock()
	g.payed <- r.OrderNo
	<-ctx.Done()
	return Result{}, ctx.Err()
}

func TestIdempotencyKey(t *testing.T) {
	h := run(t, filepath.Join(t.TempDir(), "payments.db"), newGW(), fastConfig())
	ctx := context.Background()
	r := Request{Amount: 100, Subject: "x", IdempotencyKey: "k1"}
	a, err := h.m.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.m.Create(ctx, r)
	if err != nil || b.No != a.No {
		t.Fatalf("retried create gave %s, want %s (%v)", b.No, a.No, err)
	}
	r.Amount = 200
	if _, err := h.m.Create(ctx, r); !errors.Is(err, ErrConflict) {
		t.Fatalf("key reused for another amount: %v", err)
	}
	for _, bad := range []Request{{Amount: 0, Subject: "x"}, {Amount: 100_000_001, Subject: "x"},
		{Amount: 1, Subject: ""}, {Amount: 1, Subject: "a\x00b"}, {Amount: 1, Subject: strings.Repeat("元", 129)}} {
		if _, err := h.m.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestPayNeedsRun(t *testing.T) {
	m, err := Open(filepath.Join(t.TempDir(), "payments.db"), Options{Terminal: "T", Gateway: newGW(), Config: fastConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	o, err := m.Create(context.Background(), Request{Amount: 1, Subject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Pay(context.Background(), o.No, "C"); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("pay without Run: %v", err)
	}
}

func TestRecordedAndPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payments.db")
	gw := newGW()
	h := run(t, path, gw, fastConfig())
	o := payAndWait(t, h, "CODE-P")
	un, _ := h.m.Unrecorded()
	if len(un) != 1 || un[0].No != o.No {
		t.Fatalf("unrecorded %+v", un)
	}
	if err := h.m.MarkRecorded(context.Background(), o.No); err != nil {
		t.Fatal(err)
	}
	if un, _ := h.m.Unrecorded(); len(un) != 0 {
		t.Fatalf("still unrecorded %+v", un)
	}
	h.stop()

	// Two months later the order and its code hash are gone.
	later := time.Now().Add(60 * 24 * time.Hour)
	m, err := Open(path, Options{Terminal: "POS-01", Gateway: gw, Config: fastConfig(), Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.prune(context.Background())
	if _, err := m.Get(o.No); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned order still there: %v", err)
	}
	all, _ := m.List()
	if len(all) != 0 {
		t.Fatalf("orders left %+v", all)
	}
}

func TestPromptsRegistered(t *testing.T) {
	for _, c := range []prompt.Code{CodePaid, CodeWaitingCode, CodePaying, CodeChecking, CodeReversing,
		CodeReversed, CodeFailed, CodeNeedsManual, CodeCancelled, CodeCodeUsed, CodeSettled} {
		m := prompt.Lookup(c)
		if m.Code != c || m.Holder.EN == "" || m.Operator.EN == "" || m.Maintainer.EN == "" {
			t.Errorf("prompt %d incomplete", c)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var ps config.Problems
	DefaultConfig().Validate("payment", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults: %v", ps.List())
	}
	bad := DefaultConfig()
	bad.CallTimeout, bad.ReverseAttempts, bad.QueryInterval, bad.QueryFor = 0, 0, config.Duration(time.Minute), config.Duration(time.Second)
	bad.Validate("payment", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	if got := strings.Join(paths, " "); got != "payment.callTimeout payment.reverseAttempts payment.queryInterval" {
		t.Fatalf("problems %s", got)
	}
}

func FuzzDecodeStored(f *testing.F) {
	b, _ := json.Marshal(stored{Seq: 7, Order: Order{No: "T-0000000000000007", Amount: 1, State: Querying}})
	f.Add(b)
	f.Add([]byte(`{"seq":1,"orderNo":"x","amount":1,"state":"BOGUS"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeStored(b)
		if err != nil {
			return
		}
		if !s.State.Valid() || s.Seq == 0 || s.Amount <= 0 {
			t.Fatalf("accepted %+v", s)
		}
	})
}

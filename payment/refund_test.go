package payment

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform"
)

// refundGW adds scripted refunds to fakeGW.
type refundGW struct {
	*fakeGW
	rmu     sync.Mutex
	refund  func(ctx context.Context, r RefundCall) (RefundAnswer, error)
	query   func(no string, n int) (RefundAnswer, error)
	calls   map[string]int // refund number -> refund calls
	queries map[string]int
}

func newRefundGW() *refundGW {
	return &refundGW{fakeGW: newGW(), calls: map[string]int{}, queries: map[string]int{}}
}

func (g *refundGW) Refund(ctx context.Context, r RefundCall) (RefundAnswer, error) {
	g.rmu.Lock()
	g.calls[r.RefundNo]++
	f := g.refund
	g.rmu.Unlock()
	if f == nil {
		return RefundAnswer{Status: StatusPaid, RefundTime: time.Now()}, nil
	}
	return f(ctx, r)
}

func (g *refundGW) QueryRefund(_ context.Context, _, no string) (RefundAnswer, error) {
	g.rmu.Lock()
	g.queries[no]++
	n, f := g.queries[no], g.query
	g.rmu.Unlock()
	if f == nil {
		return RefundAnswer{Status: StatusNotFound}, nil
	}
	return f(no, n)
}

func (g *refundGW) count(m map[string]int, k string) int {
	g.rmu.Lock()
	defer g.rmu.Unlock()
	return m[k]
}

func waitRefund(t *testing.T, m *Manager, no string) Refund {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := m.WaitRefund(ctx, no)
	if err != nil {
		t.Fatalf("wait refund %s: %v (%+v)", no, err, r)
	}
	return r
}

// Partial refunds add up to at most the amount paid, a refund number is idempotent,
// the operator is required, and only a paid order is refunded.
func TestRefundRulesOfAnOrder(t *testing.T) {
	gw := newRefundGW()
	h := run(t, filepath.Join(t.TempDir(), "p.db"), gw, fastConfig())
	ctx := context.Background()
	o := payAndWait(t, h, "CODE-R1") // 1250 fen
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, Amount: 100}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a refund without an operator: %v", err)
	}
	r1, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-1", Amount: 1000, Operator: "op-1", Reason: "退号"})
	if err != nil || r1.State != Sent || r1.Operator != "op-1" {
		t.Fatalf("%+v %v", r1, err)
	}
	if r := waitRefund(t, h.m, "RF-1"); r.State != Success || r.RefundTime.IsZero() {
		t.Fatalf("%+v", r)
	}
	again, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-1", Amount: 1000, Operator: "op-1", Reason: "退号"})
	if err != nil || again.State != Success || gw.count(gw.calls, "RF-1") != 1 {
		t.Fatalf("the same refund number again: %+v %v, %d calls", again, err, gw.count(gw.calls, "RF-1"))
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-1", Amount: 999, Operator: "op-1", Reason: "退号"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("the refund number with another amount: %v", err)
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, Amount: 251, Operator: "op-1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a refund above what is left: %v", err)
	}
	r2, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, Amount: 250, Operator: "op-2"})
	if err != nil || len(r2.No) > 32 {
		t.Fatalf("%+v %v", r2, err)
	}
	waitRefund(t, h.m, r2.No)
	if rs, _ := h.m.Refunds(o.No); len(rs) != 2 {
		t.Fatalf("%d refunds", len(rs))
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, Amount: 1, Operator: "op-1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a refund of a fully refunded order: %v", err)
	}
	unpaid, err := h.m.Create(ctx, Request{Amount: 100, Subject: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: unpaid.No, Amount: 1, Operator: "op-1"}); !errors.Is(err, ErrState) {
		t.Fatalf("a refund of an unpaid order: %v", err)
	}
	if un, _ := h.m.UnrecordedRefunds(); len(un) != 2 {
		t.Fatalf("%d unrecorded refunds", len(un))
	}
}

// A refund whose answer was lost is queried, never sent again; a refused one frees its
// amount; one that stays unknown needs a person.
func TestRefundUnknownOutcome(t *testing.T) {
	gw := newRefundGW()
	h := run(t, filepath.Join(t.TempDir(), "p.db"), gw, fastConfig())
	ctx := context.Background()
	o := payAndWait(t, h, "CODE-R2")
	unknown := &platform.Error{Op: "refund", Class: platform.ClassUnknown}
	gw.refund = func(context.Context, RefundCall) (RefundAnswer, error) { return RefundAnswer{}, unknown }
	gw.query = func(_ string, n int) (RefundAnswer, error) {
		if n < 2 {
			return RefundAnswer{}, unknown
		}
		return RefundAnswer{Status: StatusPaid, RefundTime: time.Now()}, nil
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-U", Amount: 500, Operator: "op-1"}); err != nil {
		t.Fatal(err)
	}
	if r := waitRefund(t, h.m, "RF-U"); r.State != Success || r.Queries != 2 || gw.count(gw.calls, "RF-U") != 1 {
		t.Fatalf("%+v after %d calls", r, gw.count(gw.calls, "RF-U"))
	}
	gw.refund = func(context.Context, RefundCall) (RefundAnswer, error) {
		return RefundAnswer{}, &platform.Error{Op: "refund", Class: platform.ClassRejected, MsgCode: "300009"}
	}
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-F", Amount: 750, Operator: "op-1"}); err != nil {
		t.Fatal(err)
	}
	if r := waitRefund(t, h.m, "RF-F"); r.State != Failed {
		t.Fatalf("%+v", r)
	}
	gw.refund = func(context.Context, RefundCall) (RefundAnswer, error) { return RefundAnswer{}, unknown }
	gw.query = nil // never found
	if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: "RF-M", Amount: 750, Operator: "op-1"}); err != nil {
		t.Fatalf("the failed refund's amount is free again: %v", err)
	}
	if r := waitRefund(t, h.m, "RF-M"); r.State != NeedsManual || gw.count(gw.calls, "RF-M") != 1 || r.PromptCode() != CodeRefundManual {
		t.Fatalf("%+v", r)
	}
}

// A refund the agent was sending when it stopped is queried at the next start, never
// sent again.
func TestRefundResumedAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	gw := newRefundGW()
	h := run(t, path, gw, fastConfig())
	o := payAndWait(t, h, "CODE-R3")
	gw.refund = func(ctx context.Context, _ RefundCall) (RefundAnswer, error) {
		<-ctx.Done()
		return RefundAnswer{}, ctx.Err()
	}
	if _, err := h.m.Refund(context.Background(), RefundRequest{OrderNo: o.No, No: "RF-C", Amount: 100, Operator: "op-1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gw.count(gw.calls, "RF-C") == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.stop()
	gw2 := newRefundGW()
	gw2.query = func(string, int) (RefundAnswer, error) {
		return RefundAnswer{Status: StatusPaid, RefundTime: time.Now()}, nil
	}
	h2 := run(t, path, gw2, fastConfig())
	if r := waitRefund(t, h2.m, "RF-C"); r.State != Success || gw2.count(gw2.calls, "RF-C") != 0 {
		t.Fatalf("%+v, %d calls after the restart", r, gw2.count(gw2.calls, "RF-C"))
	}
}

// TestPruneKeepsWhatIsOwed: past the retention an order goes with its refunds, except
// when something is still owed: a refund NEEDS_MANUAL or not recorded, or the order's
// own record.
func TestPruneKeepsWhatIsOwed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	gw := newRefundGW()
	h := run(t, path, gw, fastConfig())
	ctx := context.Background()
	order := func(code string, recorded bool) Order {
		o := payAndWait(t, h, code)
		if recorded {
			if err := h.m.MarkRecorded(ctx, o.No); err != nil {
				t.Fatal(err)
			}
		}
		return o
	}
	refund := func(o Order, no string, recorded bool) Refund {
		if _, err := h.m.Refund(ctx, RefundRequest{OrderNo: o.No, No: no, Amount: 100, Operator: "op-1"}); err != nil {
			t.Fatal(err)
		}
		r := waitRefund(t, h.m, no)
		if recorded {
			if err := h.m.MarkRefundRecorded(ctx, no); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	done := order("CODE-A", true)
	refund(done, "RF-A", true)
	unrecRefund := order("CODE-B", true)
	refund(unrecRefund, "RF-B", false)
	unrecOrder := order("CODE-D", false)
	manual := order("CODE-C", true)
	unknown := &platform.Error{Op: "refund", Class: platform.ClassUnknown}
	gw.refund = func(context.Context, RefundCall) (RefundAnswer, error) { return RefundAnswer{}, unknown }
	if r := refund(manual, "RF-C", true); r.State != NeedsManual {
		t.Fatalf("RF-C %+v", r)
	}
	h.stop()

	later := time.Now().Add(60 * 24 * time.Hour)
	var orders, refunds int
	m, err := Open(path, Options{Terminal: "POS-01", Gateway: gw, Config: fastConfig(), Now: func() time.Time { return later },
		OnPruned: func(o, r int) { orders, refunds = o, r }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.prune(ctx)
	if _, err := m.Get(done.No); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the finished order is still there: %v", err)
	}
	if _, err := m.GetRefund("RF-A"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("its refund is still there: %v", err)
	}
	for _, o := range []Order{unrecRefund, unrecOrder, manual} {
		if _, err := m.Get(o.No); err != nil {
			t.Errorf("order %s owed something and was pruned: %v", o.No, err)
		}
	}
	for _, no := range []string{"RF-B", "RF-C"} {
		if _, err := m.GetRefund(no); err != nil {
			t.Errorf("refund %s pruned: %v", no, err)
		}
	}
	if orders != 1 || refunds != 1 {
		t.Fatalf("OnPruned(%d, %d), want (1, 1)", orders, refunds)
	}
}

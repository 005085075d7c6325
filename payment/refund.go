package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
)

// A refund (退款) gives money of a SUCCESS order back to the holder, in full or in part,
// at a person's request (an operator id is required). It follows the payments' rules:
//
//	SENT ──refunded──────────────────────────────────────────▶ SUCCESS
//	  │  ──refused / nothing sent───────────────────────────▶ FAILED
//	  └──timeout/unknown──▶ UNKNOWN ──▶ QUERYING ──refunded──▶ SUCCESS
//	                                       │ ──declined──────▶ FAILED
//	                                       └──deadline───────▶ NEEDS_MANUAL
//
//   - The refund is written SENT (fsync) before the refund call; a refund call is never
//     repeated: an unknown outcome is queried by refund number until QueryFor after
//     sending, then it needs a person (there is nothing to reverse a refund with).
//   - The refund number is its idempotency key: the same number with the same order,
//     amount, operator and reason returns the refund; with others it is ErrConflict.
//   - The refunds of an order add up to at most its amount: every refund not FAILED
//     counts, checked in the transaction that writes the new one.

// Refund is one refund of a paid order. It holds no personal data.
type Refund struct {
	// No is the refund number sent to the platform.
	No string `json:"refundNo"`
	// OrderNo is the refunded order; Scene is its scene.
	OrderNo string `json:"orderNo"`
	Scene   string `json:"scene,omitempty"`
	// Amount is in fen.
	Amount int64 `json:"amount"`
	// Reason is why (optional, masked).
	Reason string `json:"reason,omitempty"`
	// Operator is who ordered it (10.3.4 c).
	Operator string `json:"operator"`
	// State is SENT, UNKNOWN, QUERYING, SUCCESS, FAILED or NEEDS_MANUAL.
	State State `json:"state"`
	// Detail says why the refund failed or needs a person (masked).
	Detail string `json:"detail,omitempty"`
	// RefundTime is when the platform says the money went back.
	RefundTime time.Time `json:"refundTime,omitzero"`
	Queries    int       `json:"queries"`
	Created    time.Time `json:"created"`
	Finished   time.Time `json:"finished,omitzero"`
	// Recorded is set once the refund's C.4 record is queued (MarkRefundRecorded).
	Recorded bool `json:"recorded,omitempty"`
}

// RefundRequest asks for a refund.
type RefundRequest struct {
	// OrderNo is the paid order.
	OrderNo string
	// No is the refund number (optional: generated). A retried request with the same
	// number returns the same refund.
	No string
	// Amount in fen, 1 to what is left of the order.
	Amount int64
	// Reason is optional, at most 80 characters.
	Reason string
	// Operator is required: 1-32 letters, digits, '-' or '_'.
	Operator string
}

var reRefundNo = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// RefundCall is one refund call to the platform.
type RefundCall struct {
	OrderNo, RefundNo string
	Amount            int64
	Reason, Operator  string
}

// RefundAnswer is the platform's view of a refund.
type RefundAnswer struct {
	// Status: StatusPaid (refunded), StatusUserPaying (processing: query),
	// StatusClosed (declined: nothing refunded), StatusNotFound (never received).
	Status     Status
	RefundTime time.Time
	Reason     string
}

// RefundGateway is the platform's refund service; errors are classified as Gateway's.
type RefundGateway interface {
	Refund(ctx context.Context, r RefundCall) (RefundAnswer, error)
	QueryRefund(ctx context.Context, orderNo, refundNo string) (RefundAnswer, error)
}

// PromptCode returns the prompt for the refund's state.
func (r Refund) PromptCode() prompt.Code {
	switch r.State {
	case Success:
		return CodeRefunded
	case Failed:
		return CodeRefundFailed
	case NeedsManual:
		return CodeRefundManual
	}
	return CodeRefunding
}

func validRefund(r RefundRequest) error {
	var bad []string
	if r.Amount < 1 || r.Amount > 100_000_000 {
		bad = append(bad, "amount must be 1 to 100000000 fen")
	}
	if !reRefundNo.MatchString(r.Operator) {
		bad = append(bad, "an operator id of 1-32 letters, digits, '-' or '_' is required")
	}
	if r.No != "" && !reRefundNo.MatchString(r.No) {
		bad = append(bad, "refund number must be 1-32 letters, digits, '-' or '_'")
	}
	if n := utf8.RuneCountInString(r.Reason); n > 80 || !utf8.ValidString(r.Reason) || strings.IndexFunc(r.Reason, unicode.IsControl) >= 0 {
		bad = append(bad, "reason must be at most 80 characters without control characters")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, "; "))
	}
	return nil
}

func loadRefund(tx *bolt.Tx, no string) (*Refund, error) {
	v := tx.Bucket(bRefunds).Get([]byte(no))
	if v == nil {
		return nil, ErrNotFound
	}
	var r Refund
	if err := json.Unmarshal(v, &r); err != nil || r.No != no || !r.State.Valid() || r.Amount <= 0 {
		return nil, errBadOrder
	}
	return &r, nil
}

func saveRefund(tx *bolt.Tx, r *Refund) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bRefunds).Put([]byte(r.No), b); err != nil {
		return err
	}
	if r.State.Final() {
		return tx.Bucket(bRefundOpen).Delete([]byte(r.No))
	}
	return tx.Bucket(bRefundOpen).Put([]byte(r.No), nil)
}

// refundsOf returns every refund of an order.
func refundsOf(tx *bolt.Tx, orderNo string) []*Refund {
	var out []*Refund
	_ = tx.Bucket(bRefunds).ForEach(func(k, _ []byte) error {
		if r, err := loadRefund(tx, string(k)); err == nil && r.OrderNo == orderNo {
			out = append(out, r)
		}
		return nil
	})
	return out
}

// Refund writes a refund SENT (durable on return), starts its state machine and
// returns it; follow it with WaitRefund or OnRefundChange. A refund number seen before
// returns that refund (ErrConflict when the request differs). The order must be
// SUCCESS and the refunds not FAILED may not add up to more than its amount (ErrState,
// ErrInvalid).
func (m *Manager) Refund(ctx context.Context, r RefundRequest) (Refund, error) {
	if m.o.ReadOnly {
		return Refund{}, ErrReadOnly
	}
	if err := validRefund(r); err != nil {
		return Refund{}, err
	}
	r.Reason = mask.Text(strings.TrimSpace(r.Reason))
	seq, ok := parseNo(r.OrderNo)
	if !ok {
		return Refund{}, ErrNotFound
	}
	m.mu.Lock()
	running := m.runCtx != nil && m.o.Refunds != nil
	m.mu.Unlock()
	if !running {
		return Refund{}, ErrNotRunning
	}
	var out *Refund
	created := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		created = false
		if r.No != "" {
			if old, err := loadRefund(tx, r.No); err == nil {
				if old.OrderNo != r.OrderNo || old.Amount != r.Amount || old.Operator != r.Operator || old.Reason != r.Reason {
					return boltstore.NoWrite(fmt.Errorf("%w: refund %s was made with other parameters", ErrConflict, r.No))
				}
				out = old
				return nil
			}
		}
		o, err := load(tx, seq)
		if err != nil || o.No != r.OrderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		if o.State != Success {
			return boltstore.NoWrite(fmt.Errorf("%w: only a paid (SUCCESS) order is refunded; this one is %s", ErrState, o.State))
		}
		var taken int64
		for _, x := range refundsOf(tx, o.No) {
			if x.State != Failed {
				taken += x.Amount
			}
		}
		if taken+r.Amount > o.Amount {
			return boltstore.NoWrite(fmt.Errorf("%w: the refund of %d fen is above what is left (%d fen paid, %d refunded or being refunded)",
				ErrInvalid, r.Amount, o.Amount, taken))
		}
		no := r.No
		if no == "" {
			n, err := m.db.Next(tx, "refund")
			if err != nil {
				return err
			}
			no = fmt.Sprintf("%s-R%015d", m.o.Terminal, n)
		}
		out = &Refund{No: no, OrderNo: o.No, Scene: o.Scene, Amount: r.Amount, Reason: r.Reason, Operator: r.Operator,
			State: Sent, Created: m.now()}
		created = true
		return saveRefund(tx, out)
	})
	if err != nil {
		return Refund{}, fmt.Errorf("payment: refund %s: %w", r.OrderNo, err)
	}
	if created {
		m.refundChanged(out)
		m.startRefund(out.No, true)
	}
	return *out, nil
}

// GetRefund returns a refund by number.
func (m *Manager) GetRefund(no string) (Refund, error) {
	var out Refund
	err := m.db.View(func(tx *bolt.Tx) error {
		r, err := loadRefund(tx, no)
		if err == nil {
			out = *r
		}
		return err
	})
	return out, err
}

// Refunds returns every refund of an order, or of every order when orderNo is empty.
func (m *Manager) Refunds(orderNo string) ([]Refund, error) {
	var out []Refund
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRefunds).ForEach(func(k, _ []byte) error {
			if r, err := loadRefund(tx, string(k)); err == nil && (orderNo == "" || r.OrderNo == orderNo) {
				out = append(out, *r)
			}
			return nil
		})
	})
	return out, err
}

// WaitRefund blocks until the refund is final or ctx is done.
func (m *Manager) WaitRefund(ctx context.Context, no string) (Refund, error) {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		r, err := m.GetRefund(no)
		if err != nil || r.State.Final() {
			return r, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
}

// MarkRefundRecorded notes that the refund's record is queued (or owes none).
func (m *Manager) MarkRefundRecorded(ctx context.Context, no string) error {
	return m.db.Update(ctx, func(tx *bolt.Tx) error {
		r, err := loadRefund(tx, no)
		if err != nil {
			return boltstore.NoWrite(err)
		}
		if r.Recorded {
			return nil
		}
		r.Recorded = true
		return saveRefund(tx, r)
	})
}

// UnrecordedRefunds returns the final refunds whose record is not queued yet.
func (m *Manager) UnrecordedRefunds() ([]Refund, error) {
	all, err := m.Refunds("")
	out := all[:0]
	for _, r := range all {
		if r.State.Final() && !r.Recorded {
			out = append(out, r)
		}
	}
	return out, err
}

package payment

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
	"github.com/sscagent/sscagent/internal/mask"
)

// maxNote bounds a settlement note, in characters.
const maxNote = 200

// Settle records a person's resolution of a NEEDS_MANUAL order, found by checking with
// the platform (对账): paid (the holder was charged and not refunded) or not, and a note
// (required, masked, at most 200 characters). The order stays NEEDS_MANUAL with its
// Settled set; it no longer counts as waiting for a person. Settling again the same way
// returns the order; the other way is ErrState, as is an order in another state.
func (m *Manager) Settle(ctx context.Context, orderNo string, paid bool, note, operator string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	note = strings.TrimSpace(note)
	if note == "" || utf8.RuneCountInString(note) > maxNote || !utf8.ValidString(note) {
		return Order{}, fmt.Errorf("%w: a note of 1-%d characters is required (what the platform said)", ErrInvalid, maxNote)
	}
	if !reRefundNo.MatchString(operator) {
		return Order{}, fmt.Errorf("%w: an operator id of 1-32 letters, digits, '-' or '_' is required (spec 10.3.4 c)", ErrInvalid)
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out *stored
	changed := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		out, changed = s, false
		switch {
		case s.State != NeedsManual:
			return boltstore.NoWrite(fmt.Errorf("%w: only a NEEDS_MANUAL order is settled; this one is %s", ErrState, s.State))
		case s.Settled != nil && s.Settled.Paid == paid:
			return nil
		case s.Settled != nil:
			return boltstore.NoWrite(fmt.Errorf("%w: already settled as paid=%v on %s", ErrState, s.Settled.Paid, s.Settled.At.Format(time.DateTime)))
		}
		s.Settled = &Settlement{Paid: paid, Note: mask.Text(note), Operator: operator, At: m.now()}
		changed = true
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: settle %s: %w", orderNo, err)
	}
	if changed {
		m.notify(out)
	}
	return out.Order, nil
}

// List returns orders oldest first: all of them, or those in the given states.
func (m *Manager) List(states ...State) ([]Order, error) {
	var out []Order
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOrders).ForEach(func(_, v []byte) error {
			s, err := decodeStored(v)
			if err != nil {
				return nil // counted by the integrity check, not fatal to a listing
			}
			if len(states) == 0 || containsState(states, s.State) {
				out = append(out, s.Order)
			}
			return nil
		})
	})
	return out, err
}

func containsState(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// Unrecorded returns the final orders whose C.4 record the agent has not queued yet
// (MarkRecorded), oldest first. The agent calls it at start to finish what a crash
// interrupted.
func (m *Manager) Unrecorded() ([]Order, error) {
	all, err := m.List(Success, Failed, Reversed, NeedsManual)
	out := all[:0]
	for _, o := range all {
		if !o.Recorded {
			out = append(out, o)
		}
	}
	return out, err
}

// MarkRecorded notes that the order's record is queued.
func (m *Manager) MarkRecorded(ctx context.Context, orderNo string) error {
	seq, ok := parseNo(orderNo)
	if !ok {
		return ErrNotFound
	}
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		if s.Recorded {
			return nil
		}
		s.Recorded = true
		return m.save(tx, s)
	})
	if err != nil {
		return fmt.Errorf("payment: mark recorded %s: %w", orderNo, err)
	}
	return nil
}

// Stats counts orders by state, for management and the local API.
type Stats struct {
	ByState map[State]int `json:"byState"`
	// Open counts orders not final yet.
	Open int `json:"open"`
	// NeedsManual counts orders waiting for a person (not settled yet).
	NeedsManual int `json:"needsManual"`
	// Unrecorded counts final orders whose record is not queued yet.
	Unrecorded int `json:"unrecorded"`
}

// Stats returns the counts.
func (m *Manager) Stats() (Stats, error) {
	all, err := m.List()
	st := Stats{ByState: map[State]int{}}
	for _, o := range all {
		st.ByState[o.State]++
		switch {
		case !o.State.Final():
			st.Open++
		case !o.Recorded:
			st.Unrecorded++
		}
		if o.State == NeedsManual && o.Settled == nil {
			st.NeedsManual++
		}
	}
	return st, err
}

// prune deletes final, recorded orders finished more than Retention ago, with their
// refunds, code hashes and idempotency keys. Kept whatever their age: orders not final;
// unrecorded orders (their record is owed); NEEDS_MANUAL orders nobody settled (a
// person's to-do); orders with a refund that is not final, is NEEDS_MANUAL or is not
// recorded. OnPruned hears the counts.
func (m *Manager) prune(ctx context.Context) {
	cutoff := m.now().Add(-m.c.Retention.D())
	var orders, refunds int
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		orders, refunds = 0, 0
		byOrder := map[string][]*Refund{}
		_ = tx.Bucket(bRefunds).ForEach(func(k, _ []byte) error {
			if r, err := loadRefund(tx, string(k)); err == nil {
				byOrder[r.OrderNo] = append(byOrder[r.OrderNo], r)
			} else {
				byOrder[""] = append(byOrder[""], nil) // unreadable: keep every order (see below)
			}
			return nil
		})
		refundsDone := func(no string) bool {
			if len(byOrder[""]) > 0 {
				return false // a refund that does not decode may be this order's
			}
			for _, r := range byOrder[no] {
				if !r.State.Final() || r.State == NeedsManual || !r.Recorded {
					return false
				}
			}
			return true
		}
		var del []*stored
		_ = tx.Bucket(bOrders).ForEach(func(_, v []byte) error {
			if s, err := decodeStored(v); err == nil && s.State.Final() && s.Recorded && s.Finished.Before(cutoff) &&
				(s.State != NeedsManual || s.Settled != nil) && // a person's to-do stays until done
				refundsDone(s.No) {
				del = append(del, s)
			}
			return nil
		})
		for _, s := range del {
			if err := tx.Bucket(bOrders).Delete(seqKey(s.Seq)); err != nil {
				return err
			}
			if len(s.CodeHash) > 0 {
				if err := tx.Bucket(bCodes).Delete(s.CodeHash); err != nil {
					return err
				}
			}
			if s.IdempotencyKey != "" {
				if err := tx.Bucket(bIdem).Delete([]byte(s.IdempotencyKey)); err != nil {
					return err
				}
			}
			for _, r := range byOrder[s.No] {
				if err := tx.Bucket(bRefunds).Delete([]byte(r.No)); err != nil {
					return err
				}
				refunds++
			}
			orders++
		}
		return nil
	})
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Error("payment: pruning old orders", "err", err)
	case err == nil && orders > 0 && m.o.OnPruned != nil:
		m.o.OnPruned(orders, refunds)
	}
}

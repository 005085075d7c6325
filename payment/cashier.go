package payment

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
)

const (
	reasonCancelled   = "cancelled by the cashier before a code was submitted"
	reasonInterrupted = "the agent stopped before a code was submitted; nothing was charged"
	maxCodeLen        = 512
)

// Request asks for a new order.
type Request struct {
	// Amount in fen (分), 1 to 100000000.
	Amount int64
	// Subject is what is paid for: 1-128 characters.
	Subject string
	// Scene names the payment scene (optional).
	Scene string
	// IdempotencyKey makes a retried request return the same order (optional, <= 64).
	IdempotencyKey string
}

// Create makes a new order in state CREATED, durable on return. A request with an
// IdempotencyKey seen before returns that order (ErrConflict if it differs).
func (m *Manager) Create(ctx context.Context, r Request) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	if err := validRequest(r); err != nil {
		return Order{}, err
	}
	if m.o.Terminal == "" {
		return Order{}, fmt.Errorf("%w: no terminal id", ErrInvalid)
	}
	var out *stored
	created := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		created = false
		if r.IdempotencyKey != "" {
			if v := tx.Bucket(bIdem).Get([]byte(r.IdempotencyKey)); len(v) == 8 {
				s, err := load(tx, binary.BigEndian.Uint64(v))
				if err != nil {
					return boltstore.NoWrite(err)
				}
				if s.Amount != r.Amount || s.Subject != r.Subject || s.Scene != r.Scene {
					return boltstore.NoWrite(ErrConflict)
				}
				out = s
				return nil
			}
		}
		seq, err := m.db.Next(tx, "order")
		if err != nil {
			return err
		}
		s := &stored{Seq: seq, Order: Order{No: boltstore.FormatID(m.o.Terminal, seq), Amount: r.Amount,
			Subject: r.Subject, Scene: r.Scene, State: Created, Created: m.now(), IdempotencyKey: r.IdempotencyKey}}
		if err := m.save(tx, s); err != nil {
			return err
		}
		if r.IdempotencyKey != "" {
			if err := tx.Bucket(bIdem).Put([]byte(r.IdempotencyKey), seqKey(seq)); err != nil {
				return err
			}
		}
		out, created = s, true
		return nil
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: create: %w", err)
	}
	if created {
		m.mu.Lock()
		m.mine[out.Seq] = true
		m.mu.Unlock()
		m.notify(out)
	}
	return out.Order, nil
}

func validRequest(r Request) error {
	var bad []string
	if r.Amount < 1 || r.Amount > 100_000_000 {
		bad = append(bad, "amount must be 1 to 100000000 fen")
	}
	if n := utf8.RuneCountInString(r.Subject); n == 0 || n > 128 || !utf8.ValidString(r.Subject) ||
		strings.IndexFunc(r.Subject, unicode.IsControl) >= 0 {
		bad = append(bad, "subject must be 1-128 characters without control characters")
	}
	if len(r.Scene) > 64 {
		bad = append(bad, "scene must be at most 64 bytes")
	}
	if len(r.IdempotencyKey) > 64 {
		bad = append(bad, "idempotency key must be at most 64 bytes")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, "; "))
	}
	return nil
}

// Pay submits the holder's e-card payment code for a CREATED order. It writes the code's
// SM3 hash and state SENT durably, starts the state machine and returns the SENT order;
// follow it with Wait or OnChange. A code submitted before, for any order, is refused
// with ErrCodeUsed and the order keeps waiting for another code.
func (m *Manager) Pay(ctx context.Context, orderNo, code string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	if code == "" || len(code) > maxCodeLen {
		return Order{}, fmt.Errorf("%w: code must be 1-%d bytes", ErrInvalid, maxCodeLen)
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	m.mu.Lock()
	running := m.runCtx != nil
	m.mu.Unlock()
	if !running {
		return Order{}, ErrNotRunning
	}
	h := sm3.Sum([]byte(code))
	var out *stored
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		switch {
		case s.State.Final():
			return boltstore.NoWrite(ErrFinal)
		case s.State != Created:
			return boltstore.NoWrite(ErrState)
		}
		codes := tx.Bucket(bCodes)
		if codes.Get(h[:]) != nil {
			return boltstore.NoWrite(ErrCodeUsed)
		}
		if err := codes.Put(h[:], seqKey(seq)); err != nil {
			return err
		}
		s.State, s.Sent, s.CodeHash = Sent, m.now(), h[:]
		out = s
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: pay %s: %w", orderNo, err)
	}
	m.notify(out)
	m.start(out.Seq, code)
	return out.Order, nil
}

// Get returns an order by number.
func (m *Manager) Get(orderNo string) (Order, error) {
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out Order
	err := m.db.View(func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil {
			return err
		}
		if s.No != orderNo {
			return ErrNotFound
		}
		out = s.Order
		return nil
	})
	return out, err
}

// Wait blocks until the order is final or ctx is done, and returns the order as it is
// then (with ctx's error in the second case).
func (m *Manager) Wait(ctx context.Context, orderNo string) (Order, error) {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		o, err := m.Get(orderNo)
		if err != nil || o.State.Final() {
			return o, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return o, ctx.Err()
		}
	}
}

// Cancel is the cashier's cancel: a CREATED order fails at once; an order whose outcome
// is open is queried once more and then reversed. A final order gives ErrFinal.
func (m *Manager) Cancel(ctx context.Context, orderNo string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out *stored
	var final bool
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		out, final = s, s.State.Final()
		switch {
		case final, s.CancelRequested:
			return nil
		case s.State == Created:
			m.end(s, Failed, reasonCancelled)
		default:
			s.CancelRequested = true
		}
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: cancel %s: %w", orderNo, err)
	}
	if final {
		return out.Order, fmt.Errorf("payment: cancel %s: %w (%s)", orderNo, ErrFinal, out.State)
	}
	m.notify(out)
	m.mu.Lock()
	if d := m.drivers[seq]; d != nil {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	return out.Order, nil
}

package payment

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform"
)

// driver drives one open order; wake interrupts its waits (a cancel).
type driver struct {
	wake chan struct{}
}

// start launches the driver of an order unless one runs or the manager is stopping.
func (m *Manager) start(seq uint64, code string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runCtx == nil || m.drivers[seq] != nil {
		return // stopping: the order is resumed at the next start
	}
	d := &driver{wake: make(chan struct{}, 1)}
	m.drivers[seq] = d
	m.wg.Add(1)
	go m.drive(m.runCtx, seq, code, d)
}

func (m *Manager) end(s *stored, st State, reason string) {
	s.State, s.Reason, s.Finished = st, truncate(mask.Text(reason), 300), m.now()
}

// drive runs one order's state machine until it is final or ctx is done. code is the
// e-card code when this process has just submitted it, empty when resuming.
func (m *Manager) drive(ctx context.Context, seq uint64, code string, d *driver) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.drivers, seq)
		m.mu.Unlock()
	}()
	for ctx.Err() == nil {
		var s *stored
		err := m.db.View(func(tx *bolt.Tx) (err error) {
			s, err = load(tx, seq)
			return err
		})
		if err != nil {
			m.log.Error("payment: reading order", "seq", seq, "err", err)
			return
		}
		if s.State.Final() {
			m.log.Info("payment: order final", "order", s.No, "state", s.State, "reason", s.Reason)
			return
		}
		if err := m.step(ctx, s, &code, d.wake); err != nil && ctx.Err() == nil {
			// A write failed (disk): the state on disk is still right; try again later.
			m.log.Error("payment: step failed", "order", s.No, "state", s.State, "err", err)
			if !backoff.SleepOrWake(ctx, time.Second, nil) {
				return
			}
		}
	}
}

// step makes one move from s.State. Every decision is written before the call it leads to.
func (m *Manager) step(ctx context.Context, s *stored, code *string, wake <-chan struct{}) error {
	seq := s.Seq
	switch s.State {
	case Created:
		// Only a CREATED order of an earlier process reaches a driver; fail it.
		_, err := m.update(ctx, seq, func(s *stored) bool {
			m.end(s, Failed, reasonInterrupted)
			return true
		})
		return err
	case Sent:
		if *code == "" {
			_, err := m.update(ctx, seq, func(s *stored) bool {
				s.State, s.Reason = Unknown, "the agent stopped during the pay call; checking the outcome"
				return true
			})
			return err
		}
		c := *code
		*code = "" // never sent again, whatever happens
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		res, err := m.o.Gateway.Pay(cctx, PayRequest{OrderNo: s.No, Amount: s.Amount, Subject: s.Subject, Code: c})
		cancel()
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: SENT stays, the next start queries
		}
		_, uerr := m.update(ctx, seq, func(s *stored) bool { m.afterPay(s, res, err); return true })
		return uerr
	case Unknown:
		if !s.CancelRequested && !backoff.SleepOrWake(ctx, m.c.QueryDelay.D(), wake) && ctx.Err() != nil {
			return ctx.Err()
		}
		_, err := m.update(ctx, seq, func(s *stored) bool { s.State = Querying; return true })
		return err
	case Querying:
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		res, qerr := m.o.Gateway.Query(cctx, s.No)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var more bool
		_, err := m.update(ctx, seq, func(s *stored) bool {
			s.Queries++
			more = m.afterQuery(s, res, qerr)
			return true
		})
		if err == nil && more {
			backoff.SleepOrWake(ctx, m.c.QueryInterval.D(), wake)
		}
		return err
	case Reversing:
		if wait := s.Sent.Add(m.c.MinReverseDelay.D()).Sub(m.now()); wait > 0 && !backoff.SleepOrWake(ctx, wait, nil) {
			return ctx.Err()
		}
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		rr, rerr := m.o.Gateway.Reverse(cctx, s.No)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var more bool
		_, err := m.update(ctx, seq, func(s *stored) bool {
			s.Reverses++
			more = m.afterReverse(s, rr, rerr)
			return true
		})
		if err == nil && more {
			backoff.SleepOrWake(ctx, m.c.ReverseInterval.D(), nil)
		}
		return err
	}
	return fmt.Errorf("payment: order %s in unexpected state %q", s.No, s.State)
}

// afterPay decides from the pay call's answer.
func (m *Manager) afterPay(s *stored, res Result, err error) {
	if err != nil {
		switch platform.ClassOf(err) {
		case platform.ClassRejected:
			m.end(s, Failed, "refused by the platform: "+err.Error())
		case platform.ClassRetryable:
			m.end(s, Failed, "the platform was not reached; nothing was charged: "+err.Error())
		default: // unknown, unverified, timeouts and anything unclassified
			s.State, s.Reason = Unknown, "outcome unknown: "+truncate(mask.Text(err.Error()), 300)
		}
		return
	}
	switch res.Status {
	case StatusPaid:
		s.TradeNo = res.TradeNo
		m.end(s, Success, "")
	case StatusUserPaying:
		s.State, s.Reason = Querying, "the holder is confirming the payment"
	case StatusClosed, StatusReversed:
		m.end(s, Failed, "refused by the platform: "+res.Reason)
	default:
		s.State, s.Reason = Unknown, "unexpected answer to pay: "+res.Status.String()
	}
}

// afterQuery decides from a query's answer; more reports that querying goes on.
func (m *Manager) afterQuery(s *stored, res Result, err error) (more bool) {
	if err == nil {
		switch res.Status {
		case StatusPaid:
			s.TradeNo = res.TradeNo
			m.end(s, Success, "")
			return false
		case StatusClosed:
			m.end(s, Failed, "closed unpaid on the platform: "+res.Reason)
			return false
		case StatusReversed:
			// REVERSED on the platform: paid, then reversed (the money went back).
			s.TradeNo, s.Refunded = res.TradeNo, true
			m.end(s, Reversed, "reversed on the platform")
			return false
		}
	}
	switch {
	case s.CancelRequested:
		s.State, s.Reason = Reversing, "cancelled by the cashier"
		return false
	case !m.now().Before(s.Sent.Add(m.c.QueryFor.D())):
		s.State, s.Reason = Reversing, fmt.Sprintf("no final result within %s", m.c.QueryFor)
		return false
	}
	return true
}

// afterReverse decides from a reverse call's answer; more reports another attempt.
func (m *Manager) afterReverse(s *stored, rr ReverseResult, err error) (more bool) {
	switch {
	case err == nil && rr.Done:
		s.Refunded = rr.Refunded
		m.end(s, Reversed, s.Reason)
		return false
	case err != nil && platform.ClassOf(err) == platform.ClassRejected:
		m.end(s, NeedsManual, "reverse refused by the platform: "+err.Error())
		return false
	case s.Reverses >= m.c.ReverseAttempts:
		why := rr.Reason
		if err != nil {
			why = err.Error()
		}
		m.end(s, NeedsManual, fmt.Sprintf("reverse not confirmed after %d attempts: %s", s.Reverses, why))
		return false
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

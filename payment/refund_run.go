package payment

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/boltstore"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform"
)

// startRefund launches the driver of a refund unless one runs or the manager is
// stopping. fresh: this process just wrote it SENT and makes the one refund call.
func (m *Manager) startRefund(no string, fresh bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runCtx == nil || m.refunds[no] || m.o.Refunds == nil {
		return
	}
	m.refunds[no] = true
	m.wg.Add(1)
	go m.driveRefund(m.runCtx, no, fresh)
}

// resumeRefunds starts a driver for every open refund: a SENT one of an earlier
// process is queried (its call may have reached the platform), never sent again.
func (m *Manager) resumeRefunds() {
	var open []string
	_ = m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRefundOpen).ForEach(func(k, _ []byte) error {
			open = append(open, string(k))
			return nil
		})
	})
	for _, no := range open {
		m.log.Info("payment: resuming refund", "refund", no)
		m.startRefund(no, false)
	}
}

func (m *Manager) refundChanged(r *Refund) {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	if m.o.OnRefundChange != nil {
		m.o.OnRefundChange(*r)
	}
}

// updateRefund applies f to the stored refund in one durable transaction and notifies.
func (m *Manager) updateRefund(ctx context.Context, no string, f func(r *Refund)) error {
	var out *Refund
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		r, err := loadRefund(tx, no)
		if err != nil {
			return boltstore.NoWrite(err)
		}
		f(r)
		if r.State.Final() && r.Finished.IsZero() {
			r.Finished = m.now()
		}
		r.Detail = truncate(mask.Text(r.Detail), 300)
		out = r
		return saveRefund(tx, r)
	})
	if err == nil {
		m.refundChanged(out)
	}
	return err
}

// driveRefund runs one refund's state machine until it is final or ctx is done.
func (m *Manager) driveRefund(ctx context.Context, no string, fresh bool) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.refunds, no)
		m.mu.Unlock()
	}()
	for ctx.Err() == nil {
		r, err := m.GetRefund(no)
		if err != nil {
			m.log.Error("payment: reading refund", "refund", no, "err", err)
			return
		}
		if r.State.Final() {
			m.log.Info("payment: refund final", "refund", no, "state", r.State, "detail", r.Detail)
			return
		}
		if err := m.stepRefund(ctx, r, &fresh); err != nil && ctx.Err() == nil {
			m.log.Error("payment: refund step failed", "refund", no, "state", r.State, "err", err)
			if !backoff.SleepOrWake(ctx, time.Second, nil) {
				return
			}
		}
	}
}

func (m *Manager) stepRefund(ctx context.Context, r Refund, fresh *bool) error {
	gw := m.o.Refunds
	switch r.State {
	case Sent:
		if !*fresh {
			return m.updateRefund(ctx, r.No, func(r *Refund) {
				r.State, r.Detail = Unknown, "the agent stopped during the refund call; checking the outcome"
			})
		}
		*fresh = false // never sent again, whatever happens
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		ans, err := gw.Refund(cctx, RefundCall{OrderNo: r.OrderNo, RefundNo: r.No, Amount: r.Amount, Reason: r.Reason, Operator: r.Operator})
		cancel()
		if ctx.Err() != nil {
			return ctx.Err() // SENT stays: the next start queries
		}
		return m.updateRefund(ctx, r.No, func(r *Refund) { afterRefund(r, ans, err) })
	case Unknown:
		if !backoff.SleepOrWake(ctx, m.c.QueryDelay.D(), nil) {
			return ctx.Err()
		}
		return m.updateRefund(ctx, r.No, func(r *Refund) { r.State = Querying })
	case Querying:
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		ans, qerr := gw.QueryRefund(cctx, r.OrderNo, r.No)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		more := false
		err := m.updateRefund(ctx, r.No, func(r *Refund) {
			r.Queries++
			more = m.afterRefundQuery(r, ans, qerr)
		})
		if err == nil && more {
			backoff.SleepOrWake(ctx, m.c.QueryInterval.D(), nil)
		}
		return err
	}
	return fmt.Errorf("payment: refund %s in unexpected state %q", r.No, r.State)
}

// afterRefund decides from the refund call's answer.
func afterRefund(r *Refund, ans RefundAnswer, err error) {
	if err != nil {
		switch platform.ClassOf(err) {
		case platform.ClassRejected:
			r.State, r.Detail = Failed, "refused by the platform; nothing refunded: "+err.Error()
		case platform.ClassRetryable:
			r.State, r.Detail = Failed, "the platform was not reached; nothing refunded: "+err.Error()
		default:
			r.State, r.Detail = Unknown, "outcome unknown: "+err.Error()
		}
		return
	}
	switch ans.Status {
	case StatusPaid:
		r.State, r.RefundTime, r.Detail = Success, ans.RefundTime, ""
	case StatusClosed:
		r.State, r.Detail = Failed, "declined by the platform; nothing refunded: "+ans.Reason
	default:
		r.State, r.Detail = Querying, "the platform is processing the refund"
	}
}

// afterRefundQuery decides from a query's answer; more reports that querying goes on.
func (m *Manager) afterRefundQuery(r *Refund, ans RefundAnswer, err error) (more bool) {
	if err == nil {
		switch ans.Status {
		case StatusPaid:
			r.State, r.RefundTime, r.Detail = Success, ans.RefundTime, ""
			return false
		case StatusClosed:
			r.State, r.Detail = Failed, "declined by the platform; nothing refunded: "+ans.Reason
			return false
		}
	}
	if !m.now().Before(r.Created.Add(m.c.QueryFor.D())) {
		why := "no final answer"
		if err != nil {
			why = err.Error()
		} else if ans.Status == StatusNotFound {
			why = "the platform does not know the refund"
		}
		r.State, r.Detail = NeedsManual, fmt.Sprintf("refund outcome not confirmed within %s (%s); check it with the platform", m.c.QueryFor, why)
		return false
	}
	return true
}

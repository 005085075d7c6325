package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/records"
)

// payRecorder queues the C.4 record of every paid order exactly once: the payment
// file's outbox (Unrecorded, MarkRecorded) says which orders still owe one.
//
// Storing the record (queue.db) and marking the order (payments.db) are two files, so a
// crash can fall between them. Two rules make that safe:
//
//   - the uploader cannot see a record of the recorder before the order is marked: each
//     record holds heldStore's lock (shared among records) from Put to MarkRecorded, and
//     the uploader reads the queue holding it exclusively. A record whose order is not
//     marked is therefore still in the queue after a crash;
//   - at start, before any part runs, reconcile looks in the queue for the record of
//     every unmarked paid order (its 业务流水号 is the order number) and marks the
//     orders whose record is there. Only the others are recorded again.
//
// Orders that did not end paid owe no C.4 record (nothing was paid, or a reversal
// refunded it) and are marked at once; NEEDS_MANUAL orders are settled by a person, who
// posts the record through the local API if money moved.
type payRecorder struct {
	a    *Agent
	wake chan struct{}

	mu       sync.Mutex        // guards putNotMarked
	unmarked map[string]string // order -> record id: stored, marking failed (disk); retry the mark only
}

func newPayRecorder(a *Agent) *payRecorder {
	return &payRecorder{a: a, wake: make(chan struct{}, 1), unmarked: map[string]string{}}
}

// Name implements Part.
func (r *payRecorder) Name() string { return "payment-records" }

// poke asks for a pass now (an order became final).
func (r *payRecorder) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// reconcile settles the outbox after a crash; it runs before any part.
func (r *payRecorder) reconcile(ctx context.Context) error {
	orders, err := r.a.payments.Unrecorded()
	if err != nil {
		return err
	}
	var paid []payment.Order
	for _, o := range orders {
		if o.State != payment.Success {
			if err := r.a.payments.MarkRecorded(ctx, o.No); err != nil {
				return err
			}
			continue
		}
		paid = append(paid, o)
	}
	if len(paid) == 0 {
		return nil
	}
	queued, err := queuedOrders(r.a.queue)
	if err != nil {
		return err
	}
	for _, o := range paid {
		if queued[o.No] {
			r.a.log.Info("payment record found in the queue after a restart; order marked", "order", o.No)
			if err := r.a.payments.MarkRecorded(ctx, o.No); err != nil {
				return err
			}
		}
	}
	return nil
}

// queuedOrders returns the order numbers (业务流水号) of the C.4 records in the queue,
// quarantine included.
func queuedOrders(q *queue.Queue) (map[string]bool, error) {
	out := map[string]bool{}
	add := func(kind string, body []byte) {
		if kind != string(records.KindPayment) || body == nil {
			return
		}
		var p struct {
			BusinessSerialNo string `json:"businessSerialNo"`
		}
		if json.Unmarshal(body, &p) == nil && p.BusinessSerialNo != "" {
			out[p.BusinessSerialNo] = true
		}
	}
	recs, err := q.List(queue.LaneMoney, math.MaxInt, true)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		add(rec.Kind, rec.Body)
	}
	qs, err := q.Quarantined(true)
	if err != nil {
		return nil, err
	}
	for _, rec := range qs {
		add(rec.Record.Kind, rec.Record.Body)
	}
	return out, nil
}

// Run records the final orders as they come. Orders it could not record yet (the
// platform has not told the payer) are retried: soon while other orders get recorded,
// with growing waits while none can be.
func (r *payRecorder) Run(ctx context.Context) error {
	b := backoff.New(backoff.Policy{Base: 100 * time.Millisecond, Max: time.Minute})
	for {
		done, owed := r.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if done > 0 {
			b.Reset()
		}
		if owed {
			if !backoff.SleepOrWake(ctx, b.Next(), r.wake) {
				return nil
			}
			continue
		}
		b.Reset()
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		}
	}
}

// recordWorkers bounds the records stored at once (their fsyncs share commits).
const recordWorkers = 8

// pass records every unrecorded final order it can; it reports how many it recorded
// and whether some remain.
func (r *payRecorder) pass(ctx context.Context) (done int, owed bool) {
	orders, err := r.a.payments.Unrecorded()
	if err != nil {
		r.a.log.Error("payment records: listing orders", "err", err)
		return 0, true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, recordWorkers)
	for _, o := range orders {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := r.record(ctx, o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				owed = true
				if ctx.Err() == nil {
					r.a.log.Warn("payment record not stored yet", "order", o.No, "err", err)
				}
				return
			}
			done++
		})
	}
	wg.Wait()
	return done, owed || ctx.Err() != nil
}

// record queues the C.4 record of one final order (a paid one) and marks it.
func (r *payRecorder) record(ctx context.Context, o payment.Order) error {
	a := r.a
	if o.State != payment.Success {
		return a.payments.MarkRecorded(ctx, o.No)
	}
	r.mu.Lock()
	id, stored := r.unmarked[o.No]
	r.mu.Unlock()
	if !stored {
		p, err := a.gw.payerOf(ctx, o.No)
		if err != nil {
			a.emit(KindPayerPending, o.Scene, "", false, CodePayerPending, err.Error(), map[string]any{"orderNo": o.No})
			return err
		}
		sc, _ := a.paymentScene(o.Scene)
		rec := paymentRecord(a.Config(), sc, o, p)
		body, err := encode(rec)
		if err != nil {
			a.emit(KindRecordFailed, o.Scene, "", false, CodeRecordInvalid, err.Error(),
				map[string]any{"kind": "payment", "orderNo": o.No})
			return err
		}
		a.held.mu.RLock()
		defer a.held.mu.RUnlock()
		// Money that moved is recorded even at the cap: the reserve is for this.
		id, err = a.queue.Put(ctx, queue.Entry{Lane: queue.LaneMoney, Kind: string(records.KindPayment), Body: body, Reserve: true})
		if err != nil {
			a.emit(KindRecordFailed, o.Scene, "", false, promptOf(err, CodeRecordInvalid), err.Error(),
				map[string]any{"kind": "payment", "orderNo": o.No})
			return err
		}
	}
	if err := a.payments.MarkRecorded(ctx, o.No); err != nil {
		r.mu.Lock()
		r.unmarked[o.No] = id
		r.mu.Unlock()
		return fmt.Errorf("marking order %s recorded (record %s stored): %w", o.No, id, err)
	}
	r.mu.Lock()
	delete(r.unmarked, o.No)
	r.mu.Unlock()
	a.gw.forget(o.No)
	a.emit(KindPaymentRecorded, o.Scene, "", true, CodeRecordQueued, "",
		map[string]any{"orderNo": o.No, "recordId": id, "kind": "payment"})
	return nil
}

// heldStore is the queue as the uploader sees it. Its reads wait while the payment
// recorder is between storing a C.4 record and marking its order, so no record is
// uploaded (and deleted) before its order says it was recorded.
type heldStore struct {
	a  *Agent
	mu sync.RWMutex // read-held by each record from Put to MarkRecorded; write-held by Oldest
}

var _ backflow.Store = (*heldStore)(nil)

// Oldest implements backflow.Store.
func (h *heldStore) Oldest(ctx context.Context, max int, skip func(seq uint64) bool) ([]queue.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.a.queue.Oldest(ctx, max, skip)
}

// Ack implements backflow.Store.
func (h *heldStore) Ack(ctx context.Context, seqs ...uint64) error {
	return h.a.queue.Ack(ctx, seqs...)
}

// Retry implements backflow.Store.
func (h *heldStore) Retry(ctx context.Context, reason string, seqs ...uint64) error {
	return h.a.queue.Retry(ctx, reason, seqs...)
}

// Quarantine implements backflow.Store.
func (h *heldStore) Quarantine(ctx context.Context, seq uint64, reason string) error {
	return h.a.queue.Quarantine(ctx, seq, reason)
}

// Added implements backflow.Store.
func (h *heldStore) Added() <-chan struct{} {
	if h.a.queue == nil {
		return nil
	}
	return h.a.queue.Added()
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/prompt"
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
// A paid order owes one C.4 record (业务流水号: the order number). An order that was
// paid and then reversed (Refunded) owes two: the payment and the money given back (业务
// 流水号 order number + "-CZ", 支付结算类型 08, a negative amount). A SUCCESS refund owes
// one (业务流水号: the refund number, 08, negative). Orders closed unpaid owe none (no
// money moved, and no payer is known) and are marked at once; NEEDS_MANUAL orders and
// refunds are settled by a person, who posts the record through the local API if money
// moved. Reconcile and the passes go by 业务流水号: an owner is marked once every record
// it owes is in the queue, and only the missing ones are stored again.
type payRecorder struct {
	a    *Agent
	wake chan struct{}

	mu     sync.Mutex      // guards stored
	stored map[string]bool // 业务流水号 of records in the queue whose owner is not marked yet
}

func newPayRecorder(a *Agent) *payRecorder {
	return &payRecorder{a: a, wake: make(chan struct{}, 1), stored: map[string]bool{}}
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

// reconcile settles the outbox after a crash; it runs before any part. Owners that owe
// nothing are marked; the records already in the queue are remembered, so that only the
// missing ones are stored again.
func (r *payRecorder) reconcile(ctx context.Context) error {
	orders, err := r.a.payments.Unrecorded()
	if err != nil {
		return err
	}
	refunds, err := r.a.payments.UnrecordedRefunds()
	if err != nil {
		return err
	}
	queued, err := queuedOrders(r.a.queue)
	if err != nil {
		return err
	}
	for _, o := range orders {
		owed := owedSerials(o)
		if len(owed) == 0 || allIn(queued, owed) {
			if len(owed) > 0 {
				r.a.log.Info("payment records found in the queue after a restart; order marked", "order", o.No)
			}
			if err := r.a.payments.MarkRecorded(ctx, o.No); err != nil {
				return err
			}
		}
	}
	for _, f := range refunds {
		if f.State != payment.Success || queued[f.No] {
			if err := r.a.payments.MarkRefundRecorded(ctx, f.No); err != nil {
				return err
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for serial := range queued {
		r.stored[serial] = true
	}
	return nil
}

// owedSerials are the 业务流水号 of the C.4 records a final order owes.
func owedSerials(o payment.Order) []string {
	switch {
	case o.State == payment.Success:
		return []string{o.No}
	case o.State == payment.Reversed && o.Refunded:
		return []string{o.No, reversalSerial(o.No)}
	}
	return nil
}

func allIn(set map[string]bool, keys []string) bool {
	for _, k := range keys {
		if !set[k] {
			return false
		}
	}
	return true
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
	refunds, err := r.a.payments.UnrecordedRefunds()
	if err != nil {
		r.a.log.Error("payment records: listing refunds", "err", err)
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
	for _, f := range refunds {
		if ctx.Err() != nil {
			break
		}
		if err := r.recordRefund(ctx, f); err != nil {
			owed = true
			if ctx.Err() == nil {
				r.a.log.Warn("refund record not stored yet", "refund", f.No, "err", err)
			}
			continue
		}
		done++
	}
	wg.Wait()
	return done, owed || ctx.Err() != nil
}

// record queues the C.4 records one final order owes and marks it.
func (r *payRecorder) record(ctx context.Context, o payment.Order) error {
	a := r.a
	owed := owedSerials(o)
	if len(owed) == 0 {
		return a.payments.MarkRecorded(ctx, o.No)
	}
	var recs []*records.Payment
	if !r.allStored(owed) {
		p, err := a.gw.payerOf(ctx, o.No)
		if err != nil {
			a.emit(KindPayerPending, o.Scene, "", false, CodePayerPending, err.Error(), map[string]any{"orderNo": o.No})
			return err
		}
		sc, _ := a.paymentScene(o.Scene)
		recs = append(recs, paymentRecord(a.Config(), sc, o, p, a.recordClock()))
		if o.State == payment.Reversed {
			recs = append(recs, refundRecord(a.Config(), sc, o, p, reversalSerial(o.No), o.Amount, records.FormatDateTime(a.recordClock().at(o.Finished)), ""))
		}
	}
	a.held.mu.RLock()
	defer a.held.mu.RUnlock()
	ids, code, err := r.put(ctx, o.Scene, map[string]any{"orderNo": o.No}, recs)
	if err != nil {
		return err
	}
	if err := a.payments.MarkRecorded(ctx, o.No); err != nil {
		return fmt.Errorf("marking order %s recorded (records stored): %w", o.No, err)
	}
	r.forget(owed)
	a.gw.forget(o.No)
	a.emit(KindPaymentRecorded, o.Scene, "", true, code, "", recordedData(ids,
		map[string]any{"orderNo": o.No, "kind": "payment", "refunded": o.Refunded}))
	return nil
}

// recordRefund queues the C.4 record of a SUCCESS refund and marks it; other final
// refunds owe none (nothing moved, or a person settles it).
func (r *payRecorder) recordRefund(ctx context.Context, f payment.Refund) error {
	a := r.a
	if f.State != payment.Success {
		return a.payments.MarkRefundRecorded(ctx, f.No)
	}
	var recs []*records.Payment
	if !r.allStored([]string{f.No}) {
		o, err := a.payments.Get(f.OrderNo)
		if err != nil {
			return err
		}
		p, err := a.gw.payerOf(ctx, f.OrderNo)
		if err != nil {
			a.emit(KindPayerPending, f.Scene, "", false, CodePayerPending, err.Error(), map[string]any{"orderNo": f.OrderNo, "refundNo": f.No})
			return err
		}
		at := f.RefundTime // the platform's
		if at.IsZero() {
			at = a.recordClock().at(f.Finished)
		}
		sc, _ := a.paymentScene(o.Scene)
		recs = append(recs, refundRecord(a.Config(), sc, o, p, f.No, f.Amount, records.FormatDateTime(at), f.Operator))
	}
	a.held.mu.RLock()
	defer a.held.mu.RUnlock()
	ids, code, err := r.put(ctx, f.Scene, map[string]any{"refundNo": f.No, "orderNo": f.OrderNo}, recs)
	if err != nil {
		return err
	}
	if err := a.payments.MarkRefundRecorded(ctx, f.No); err != nil {
		return fmt.Errorf("marking refund %s recorded (record stored): %w", f.No, err)
	}
	r.forget([]string{f.No})
	a.emit(KindRefundRecorded, f.Scene, "", true, code, "", recordedData(ids,
		map[string]any{"refundNo": f.No, "orderNo": f.OrderNo, "operator": f.Operator, "kind": "payment"}))
	return nil
}

// put stores the records not stored yet (money that moved is recorded even at the
// cap: the reserve is for this) and returns their ids and the prompt of the event that
// says so: CodeRecordQueued, or CodeRecordQuarantined when one failed the Appendix C
// check and waits in quarantine (putRecord raised the alarm). The caller holds held.mu.
func (r *payRecorder) put(ctx context.Context, scene string, about map[string]any, recs []*records.Payment) ([]string, prompt.Code, error) {
	a := r.a
	var ids []string
	code := CodeRecordQueued
	for _, rec := range recs {
		if r.allStored([]string{rec.BusinessSerialNo}) {
			continue
		}
		data := map[string]any{"kind": "payment", "businessSerialNo": rec.BusinessSerialNo}
		for k, v := range about {
			data[k] = v
		}
		id, quarantined, err := a.putRecord(ctx, scene, "", queue.Entry{Lane: queue.LaneMoney, Kind: string(records.KindPayment), Reserve: true}, rec, "", data)
		if err != nil {
			a.emit(KindRecordFailed, scene, "", false, promptOf(err, CodeRecordInvalid), err.Error(), data)
			return nil, 0, err
		}
		if quarantined {
			code = CodeRecordQuarantined
		}
		r.mu.Lock()
		r.stored[rec.BusinessSerialNo] = true
		r.mu.Unlock()
		ids = append(ids, id)
	}
	return ids, code, nil
}

// recordedData adds the ids of the records stored (recordId: the first, the one of a
// paid order's payment record) to an event's data.
func recordedData(ids []string, d map[string]any) map[string]any {
	d["recordIds"] = ids
	if len(ids) > 0 {
		d["recordId"] = ids[0]
	}
	return d
}

func (r *payRecorder) allStored(serials []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return allIn(r.stored, serials)
}

func (r *payRecorder) forget(serials []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range serials {
		delete(r.stored, s)
	}
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

package backflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
)

// quarantineDamaged moves records that cannot be read back to quarantine and returns the
// others.
func (u *Uploader) quarantineDamaged(ctx context.Context, recs []queue.Record) []queue.Record {
	out := recs[:0]
	for _, r := range recs {
		if r.Damaged == "" {
			out = append(out, r)
			continue
		}
		reason := "damaged at rest: " + r.Damaged
		if err := u.o.Store.Quarantine(ctx, r.Seq, reason); err != nil {
			u.log.Error("backflow: quarantine of a damaged record failed", "seq", r.Seq, "err", err)
			continue
		}
		u.log.Error("backflow: damaged record quarantined", "seq", r.Seq, "id", r.ID, "reason", reason)
		u.count(func(s *Stats) { s.Quarantined++ })
		u.notice(Notice{Code: queue.CodeQuarantined, Kind: "backflow.quarantined", Count: 1, Detail: reason})
	}
	return out
}

// upload submits one batch and books the outcome in the store.
func (u *Uploader) upload(ctx context.Context, recs []queue.Record) result {
	r := result{seqs: make([]uint64, len(recs))}
	items := make([]Item, len(recs))
	byID := make(map[string]uint64, len(recs))
	for i, rec := range recs {
		r.seqs[i] = rec.Seq
		items[i] = Item{ID: rec.ID, Kind: rec.Kind, Body: rec.Body}
		byID[rec.ID] = rec.Seq
	}
	sctx, cancel := context.WithTimeout(ctx, u.c.SubmitTimeout.D())
	acks, err := u.o.Submitter.Submit(sctx, items)
	cancel()
	u.count(func(s *Stats) { s.Batches++ })
	// Book the outcome even while shutting down: an acknowledged record that is not
	// deleted would only be sent again (and de-duplicated), but why send it twice.
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer bcancel()
	if err != nil {
		if ctx.Err() != nil && platform.IsCanceled(err) {
			r.failed = ctx.Err()
			return r
		}
		r.failed = fmt.Errorf("%s: %w", platform.ClassOf(err), err)
		if rerr := u.o.Store.Retry(bctx, r.failed.Error(), r.seqs...); rerr != nil {
			u.log.Error("backflow: recording the failed attempt", "err", rerr)
		}
		return r
	}
	var ack, missing []uint64
	for _, a := range acks {
		seq, ok := byID[a.ID]
		if !ok {
			continue // not ours: ignore
		}
		delete(byID, a.ID)
		switch a.Status {
		case Accepted, Duplicate:
			ack = append(ack, seq)
			if a.Status == Duplicate {
				r.dups++
			}
		case Rejected:
			reason := "rejected by the platform: " + a.Reason
			if qerr := u.o.Store.Quarantine(bctx, seq, reason); qerr != nil {
				u.log.Error("backflow: quarantine failed", "seq", seq, "err", qerr)
				continue
			}
			r.quar++
			u.log.Warn("backflow: record rejected, quarantined", "id", a.ID, "reason", mask.Text(a.Reason))
			u.notice(Notice{Code: queue.CodeQuarantined, Kind: "backflow.quarantined", Count: 1, Detail: mask.Text(a.Reason)})
		default:
			missing = append(missing, seq)
		}
	}
	for _, seq := range byID {
		missing = append(missing, seq)
	}
	if err := u.o.Store.Ack(bctx, ack...); err != nil {
		u.log.Error("backflow: deleting acknowledged records", "err", err)
	} else {
		r.acked = len(ack)
	}
	if len(missing) > 0 {
		_ = u.o.Store.Retry(bctx, "no acknowledgement for this record", missing...)
	}
	if len(ack)+r.quar == 0 {
		// An answer that settles nothing is no progress: back off rather than spin.
		r.failed = errors.New("the platform acknowledged none of the batch")
	}
	return r
}

// Package backflow is the uploader that flows queued records back to the one-card-pass
// platform (spec 5.4.1.3 数据回流, 9.4): a long-running part (Run) that drains the durable
// queue oldest first and deletes a record only on the platform's business acknowledgement.
//
// How it drains:
//
//   - oldest first across lanes, in batches of BatchSize, with at most Concurrency
//     batches in flight and a token bucket limiting records per second;
//   - every record carries its stable id (terminal + sequence), so a batch sent again
//     after a timeout or a crash is de-duplicated by the platform; a "duplicate" ack
//     counts as accepted;
//   - per-record acks: accepted and duplicate records are deleted, rejected ones go to
//     quarantine with the platform's reason, records without an ack stay queued;
//   - a failed call (outage, timeout, unverifiable answer, a refusal of the whole call)
//     starts an outage: one probe batch at a time, spaced by exponential backoff with
//     full jitter; the first success ends the outage at once and the backlog drains at
//     full rate. PlatformUp (any other platform call succeeded) and Flush (terminal
//     management's "flush now") cut the wait short;
//   - the queue's Added signal starts an upload as soon as a record is stored; Interval
//     is only the safety net.
//
// The package owns the small interfaces it needs: Store (the queue) and Submitter (the
// platform's backflow call, adapted by the agent). backflowtest has an HTTP ledger and
// submitter for tests.
package backflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
)

// Item is one record offered to the platform.
type Item struct {
	// ID is the record's stable id (terminal id + "-" + sequence); the platform
	// de-duplicates on it.
	ID string
	// Kind is the record kind ("credential", "payment", "benefit", "event").
	Kind string
	// Body is the record as queued.
	Body []byte
}

// AckStatus is the platform's answer for one record.
type AckStatus uint8

// Ack statuses.
const (
	// Accepted: the platform stored the record.
	Accepted AckStatus = iota + 1
	// Duplicate: the platform had it already (an earlier send got through); as good as
	// Accepted.
	Duplicate
	// Rejected: the platform refuses the record for good; Reason says why.
	Rejected
)

var ackNames = [...]string{"", "accepted", "duplicate", "rejected"}

func (s AckStatus) String() string {
	if int(s) < len(ackNames) && s > 0 {
		return ackNames[s]
	}
	return fmt.Sprintf("ack(%d)", uint8(s))
}

// Ack is the platform's business acknowledgement of one record.
type Ack struct {
	ID     string
	Status AckStatus
	Reason string
}

// Submitter sends one batch to the platform. A nil error means the platform answered
// verifiably; the acks then say what happened to each record (a record without an ack is
// sent again later). An error is classified with platform.ClassOf; every class is
// retried later with the same ids.
type Submitter interface {
	Submit(ctx context.Context, items []Item) ([]Ack, error)
}

// Store is the queue as the uploader uses it. *queue.Queue implements it.
type Store interface {
	Oldest(ctx context.Context, max int, skip func(seq uint64) bool) ([]queue.Record, error)
	Ack(ctx context.Context, seqs ...uint64) error
	Retry(ctx context.Context, reason string, seqs ...uint64) error
	Quarantine(ctx context.Context, seq uint64, reason string) error
	Added() <-chan struct{}
}

var _ Store = (*queue.Queue)(nil)

// Notice is something a person should hear about: the agent publishes it as an event
// with its prompt.
type Notice struct {
	// Code is the prompt code (see prompts.go).
	Code prompt.Code
	// Kind is the event kind: "backflow.outage", "backflow.resumed", "backflow.quarantined".
	Kind string
	// Count is the number of records concerned.
	Count int
	// Detail is the cause, masked.
	Detail string
}

// Options configure an Uploader. Store, Submitter and Config are required.
type Options struct {
	Store     Store
	Submitter Submitter
	Config    Config
	// Logger receives the uploader's logs; nil discards them.
	Logger *slog.Logger
	// OnNotice is called for outages, recoveries and quarantined records. It must not
	// block.
	OnNotice func(Notice)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats is a snapshot for management telemetry and the local API.
type Stats struct {
	// Uploaded counts records acknowledged (accepted or duplicate) since start.
	Uploaded uint64 `json:"uploaded"`
	// Duplicates counts the acknowledgements that were duplicates.
	Duplicates uint64 `json:"duplicates"`
	// Quarantined counts records moved to quarantine since start.
	Quarantined uint64 `json:"quarantined"`
	// Batches counts Submit calls.
	Batches uint64 `json:"batches"`
	// InFlight is the number of records being uploaded now.
	InFlight int `json:"inFlight"`
	// Outage reports that the last call failed and the uploader is backing off.
	Outage bool `json:"outage"`
	// Failures counts consecutive failed calls.
	Failures int `json:"failures"`
	// LastSuccess and LastFailure are the times of the last calls of each kind.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastFailure time.Time `json:"lastFailure,omitzero"`
	// LastError is the last failure's cause (masked).
	LastError string `json:"lastError,omitempty"`
	// NextAttempt is when the next probe goes out during an outage.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

// Uploader drains a Store into a Submitter. It implements agent.Part.
type Uploader struct {
	o     Options
	c     Config
	log   *slog.Logger
	now   func() time.Time
	flush chan struct{}
	up    chan struct{}
	// delay returns the wait after a failure; tests replace it.
	delay func(b *backoff.Backoff) time.Duration

	mu    sync.Mutex // guards stats
	stats Stats
}

// New returns an uploader. It does nothing until Run.
func New(o Options) (*Uploader, error) {
	if o.Store == nil || o.Submitter == nil {
		return nil, errors.New("backflow: store and submitter are required")
	}
	var ps config.Problems
	o.Config.Validate("backflow", &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Uploader{o: o, c: o.Config, log: o.Logger, now: o.Now,
		flush: make(chan struct{}, 1), up: make(chan struct{}, 1),
		delay: func(b *backoff.Backoff) time.Duration { return b.Next() }}, nil
}

// Name implements agent.Part.
func (u *Uploader) Name() string { return "backflow" }

// Flush asks for an upload now, ending an outage's wait (terminal management's "flush
// now" command). It does not block.
func (u *Uploader) Flush() { signal(u.flush) }

// PlatformUp tells the uploader that another platform call just succeeded: during an
// outage it probes at once instead of waiting out the backoff. It does not block.
func (u *Uploader) PlatformUp() { signal(u.up) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

type result struct {
	epoch  int // the Run loop's epoch when the batch was sent
	seqs   []uint64
	failed error // the call failed: back off
	acked  int
	dups   int
	quar   int
}

// Run uploads until ctx is done, then waits for the batches in flight and returns nil.
func (u *Uploader) Run(ctx context.Context) error {
	inflight := map[uint64]bool{}
	results := make(chan result, u.c.Concurrency)
	running := 0
	b := backoff.New(backoff.Policy{Base: u.c.BackoffBase.D(), Max: u.c.BackoffMax.D()})
	bucket := newTokenBucket(u.c.RatePerSecond, u.c.Burst, u.now)
	outage, waiting := false, false
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	tick := time.NewTicker(u.c.Interval.D())
	defer tick.Stop()
	idle := false // the queue had nothing to send at the last look
	// epoch counts the moments that end a wait (a success, PlatformUp, Flush, the retry
	// timer). A failure of a batch sent before the latest of them is stale: it must not
	// start a new wait, or it would swallow the signal that just ended one.
	epoch := 0

	for {
		// Start batches while allowed: one probe during an outage, Concurrency otherwise.
		for !waiting && !idle && running < u.limit(outage) {
			recs, err := u.o.Store.Oldest(ctx, u.c.BatchSize, func(s uint64) bool { return inflight[s] })
			if err != nil {
				if ctx.Err() == nil {
					u.log.Error("backflow: reading the queue", "err", err)
				}
				idle = true
				break
			}
			n := len(recs)
			recs = u.quarantineDamaged(ctx, recs)
			if len(recs) == 0 {
				if n > 0 && ctx.Err() == nil {
					continue // all damaged and quarantined: look further
				}
				idle = true
				break
			}
			if err := bucket.wait(ctx, len(recs)); err != nil {
				break
			}
			for _, r := range recs {
				inflight[r.Seq] = true
			}
			running++
			u.setInFlight(len(inflight))
			sent := epoch
			go func() {
				r := u.upload(ctx, recs)
				r.epoch = sent
				results <- r
			}()
			if outage {
				break
			}
		}
		select {
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-results
			}
			u.setInFlight(0)
			return nil
		case r := <-results:
			running--
			for _, s := range r.seqs {
				delete(inflight, s)
			}
			u.setInFlight(len(inflight))
			idle = false
			if r.failed == nil {
				if outage {
					u.log.Info("backflow resumed: platform answering again", "after", b.Failures())
					u.notice(Notice{Code: CodeResumed, Kind: "backflow.resumed"})
				}
				outage, waiting = false, false
				epoch++
				retry.Stop()
				b.Reset()
				u.record(r, time.Time{})
				continue
			}
			if ctx.Err() != nil {
				continue
			}
			if !outage {
				u.log.Warn("backflow outage: keeping records and backing off", "err", r.failed)
				u.notice(Notice{Code: CodeOutage, Kind: "backflow.outage", Count: len(r.seqs), Detail: mask.Text(r.failed.Error())})
			}
			outage = true
			if !waiting && r.epoch == epoch { // stale or second failures do not push the retry out
				d := u.delay(b)
				waiting = true
				retry.Reset(d)
				u.record(r, u.now().Add(d))
			} else {
				u.record(r, time.Time{})
			}
		case <-u.o.Store.Added():
			idle = false
		case <-tick.C:
			idle = false
		case <-u.flush:
			idle, waiting = false, false
			epoch++
		case <-u.up:
			idle, waiting = false, false
			epoch++
		case <-retry.C:
			idle, waiting = false, false
			epoch++
		}
	}
}

func (u *Uploader) limit(outage bool) int {
	if outage {
		return 1
	}
	return u.c.Concurrency
}

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

func (u *Uploader) record(r result, next time.Time) {
	now := u.now()
	u.count(func(s *Stats) {
		s.Uploaded += uint64(r.acked)
		s.Duplicates += uint64(r.dups)
		s.Quarantined += uint64(r.quar)
		if r.failed == nil {
			s.LastSuccess, s.Outage, s.Failures, s.NextAttempt = now, false, 0, time.Time{}
			return
		}
		s.LastFailure, s.Outage, s.LastError = now, true, mask.Text(r.failed.Error())
		s.Failures++
		if !next.IsZero() {
			s.NextAttempt = next
		}
	})
}

func (u *Uploader) setInFlight(n int) { u.count(func(s *Stats) { s.InFlight = n }) }

func (u *Uploader) count(f func(*Stats)) {
	u.mu.Lock()
	f(&u.stats)
	u.mu.Unlock()
}

func (u *Uploader) notice(n Notice) {
	if u.o.OnNotice != nil {
		u.o.OnNotice(n)
	}
}

// tokenBucket limits records per second. Only the Run goroutine uses it.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
	now                 func() time.Time
}

func newTokenBucket(rate float64, burst int, now func() time.Time) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now(), now: now}
}

// wait takes n tokens (at most a burst), sleeping until they are there.
func (t *tokenBucket) wait(ctx context.Context, n int) error {
	need := min(float64(n), t.burst)
	for {
		now := t.now()
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
		t.last = now
		if t.tokens >= need {
			t.tokens -= need
			return nil
		}
		d := time.Duration((need - t.tokens) / t.rate * float64(time.Second))
		if !backoff.Sleep(ctx, max(d, time.Millisecond)) {
			return ctx.Err()
		}
	}
}

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
	"log/slog"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
)

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

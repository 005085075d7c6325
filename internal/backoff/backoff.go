// Package backoff computes retry delays: exponential growth with full jitter (a uniformly
// random wait between zero and the current ceiling), so that many terminals recovering
// from the same outage do not retry in step. Used by the supervisor, the uploader and the
// MQTT session.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy describes the delays. The zero value is usable: 100 ms doubling to 30 s.
type Policy struct {
	Base time.Duration // first ceiling; default 100 ms
	Max  time.Duration // largest ceiling; default 30 s
}

// Backoff tracks consecutive failures under a Policy. It is not safe for concurrent use.
type Backoff struct {
	p Policy
	n int
	// rand returns a float in [0,1); tests replace it.
	rand func() float64
}

// New returns a Backoff for p.
func New(p Policy) *Backoff {
	if p.Base <= 0 {
		p.Base = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	return &Backoff{p: p, rand: rand.Float64}
}

// Ceiling returns the current upper bound of the delay without counting a failure.
func (b *Backoff) Ceiling() time.Duration {
	c := b.p.Base
	for i := 0; i < b.n && c < b.p.Max; i++ {
		c *= 2
	}
	return min(c, b.p.Max)
}

// Next counts a failure and returns how long to wait before the next attempt: a random
// duration in [0, ceiling), where the ceiling doubles with each failure up to Max.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	b.n++
	return time.Duration(b.rand() * float64(c))
}

// Failures reports the consecutive failures counted since the last Reset.
func (b *Backoff) Failures() int { return b.n }

// Reset forgets the failures after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits for d or until ctx is done, whichever is first, and reports whether the
// full duration elapsed.
func Sleep(ctx context.Context, d time.Duration) bool { return SleepOrWake(ctx, d, nil) }

// SleepOrWake is Sleep that also ends early when wake fires (a nil wake never fires):
// a waiting loop that someone can nudge ("flush now", "the platform is back").
func SleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-wake:
		return false
	case <-ctx.Done():
		return false
	}
}

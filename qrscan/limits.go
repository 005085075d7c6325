package qrscan

import (
	"hash/maphash"
	"time"
)

// dedupSize bounds the de-duplication memory: the most recent distinct codes remembered.
const dedupSize = 32

// dedup remembers recent codes by a keyed 64-bit hash (never the code itself, which is a
// secret) and reports repeats within a sliding window: a scanner in continuous mode that
// keeps seeing the same phone keeps extending the window, so the code is delivered once.
type dedup struct {
	window  time.Duration
	seed    maphash.Seed
	entries [dedupSize]dedupEntry
	next    int // ring position of the oldest entry
}

type dedupEntry struct {
	sum  uint64
	last time.Time
}

func newDedup(window time.Duration) *dedup {
	return &dedup{window: window, seed: maphash.MakeSeed()}
}

// seen reports whether code was seen within the window before now, and records it.
func (d *dedup) seen(code []byte, now time.Time) bool {
	if d.window <= 0 {
		return false
	}
	sum := maphash.Bytes(d.seed, code)
	for i := range d.entries {
		e := &d.entries[i]
		if e.sum == sum && !e.last.IsZero() {
			dup := now.Sub(e.last) < d.window
			e.last = now
			return dup
		}
	}
	d.entries[d.next] = dedupEntry{sum: sum, last: now}
	d.next = (d.next + 1) % dedupSize
	return false
}

// limiter is a token bucket: rate scans per second on average, burst at once.
type limiter struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token at now if one is available.
func (l *limiter) allow(now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	if !l.last.IsZero() {
		if dt := now.Sub(l.last).Seconds(); dt > 0 {
			l.tokens = min(l.burst, l.tokens+dt*l.rate)
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return true
	}
	return false
}

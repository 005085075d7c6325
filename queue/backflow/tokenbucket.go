package backflow

import (
	"context"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
)

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

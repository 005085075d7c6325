package backflow

import (
	"context"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	b := newTokenBucket(1000, 10, clock)
	done, cancel := context.WithCancel(context.Background())
	cancel() // a wait that has to sleep fails at once: proves whether tokens were there
	if err := b.wait(done, 10); err != nil {
		t.Fatal("the burst is available at start")
	}
	if err := b.wait(done, 1); err == nil {
		t.Fatal("a token after the burst without time passing")
	}
	now = now.Add(5 * time.Millisecond) // 5 tokens at 1000/s
	if err := b.wait(done, 5); err != nil {
		t.Fatal("tokens not refilled at the rate")
	}
	if err := b.wait(done, 1); err == nil {
		t.Fatal("more tokens than the rate gives")
	}
	now = now.Add(time.Hour)
	if err := b.wait(done, 50); err != nil { // more than a burst takes a burst
		t.Fatal(err)
	}
	if err := b.wait(done, 1); err == nil {
		t.Fatal("refill beyond the burst")
	}
	real := newTokenBucket(1000, 10, time.Now)
	if err := real.wait(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	if err := real.wait(context.Background(), 3); err != nil { // sleeps about 3ms
		t.Fatal(err)
	}
}

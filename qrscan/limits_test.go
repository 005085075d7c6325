package qrscan

import (
	"testing"
	"time"
)

func TestDedupSlidingWindow(t *testing.T) {
	d := newDedup(3 * time.Second)
	t0 := time.Unix(1000, 0)
	code := []byte("CODE")
	steps := []struct {
		at   time.Duration
		code []byte
		want bool
	}{
		{0, code, false},
		{time.Second, code, true},
		{3 * time.Second, code, true}, // 2s after the last sighting: the window slid
		{5900 * time.Millisecond, code, true},
		{9 * time.Second, code, false}, // more than 3s of absence
		{9 * time.Second, []byte("OTHER"), false},
	}
	for i, s := range steps {
		if got := d.seen(s.code, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d (%s at %s): seen = %v, want %v", i, s.code, s.at, got, s.want)
		}
	}
}

func TestDedupForgetsOldestBeyondCapacity(t *testing.T) {
	d := newDedup(time.Hour)
	now := time.Unix(1000, 0)
	d.seen([]byte("first"), now)
	for i := range dedupSize {
		d.seen([]byte{byte(i), 'x'}, now)
	}
	if d.seen([]byte("first"), now) {
		t.Fatal("the table should have forgotten the oldest code")
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3) // 2 a second, 3 at once
	t0 := time.Unix(1000, 0)
	allowed := 0
	for range 10 {
		if l.allow(t0) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("burst allowed %d, want 3", allowed)
	}
	if !l.allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("one token should have refilled after 0.5s")
	}
	if l.allow(t0.Add(600 * time.Millisecond)) {
		t.Fatal("no token should be left")
	}
	allowed = 0
	for range 10 {
		if l.allow(t0.Add(time.Hour)) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("after a long pause %d allowed, want the burst of 3", allowed)
	}
}

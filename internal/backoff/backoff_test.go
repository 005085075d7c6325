package backoff

import (
	"context"
	"testing"
	"time"
)

func TestCeilingDoublesToMax(t *testing.T) {
	b := New(Policy{Base: time.Second, Max: 5 * time.Second})
	b.rand = func() float64 { return 0.999999 }
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, b.Next().Round(time.Second))
	}
	want := []time.Duration{1, 2, 4, 5, 5}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v s", got, want)
		}
	}
	b.Reset()
	if b.Ceiling() != time.Second || b.Failures() != 0 {
		t.Fatal("Reset did not restore the base")
	}
}

func TestFullJitterSpread(t *testing.T) {
	b := New(Policy{Base: time.Second, Max: time.Second})
	var lo, hi int
	for i := 0; i < 1000; i++ {
		d := b.Next()
		if d < 0 || d >= time.Second {
			t.Fatalf("delay %v out of [0,1s)", d)
		}
		if d < 250*time.Millisecond {
			lo++
		}
		if d > 750*time.Millisecond {
			hi++
		}
	}
	if lo < 100 || hi < 100 {
		t.Fatalf("not spread over the range: %d low, %d high of 1000", lo, hi)
	}
}

func TestSleepCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep ignored a cancelled context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep did not complete")
	}
}

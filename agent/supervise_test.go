package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
)

// TestFailingPartRestarted injects a part that fails three times and panics once, and
// checks that it is restarted each time, every failure is reported, its neighbours keep
// running, and the supervisor itself stays up until asked to stop.
func TestFailingPartRestarted(t *testing.T) {
	var runs atomic.Int32
	flaky := PartFunc("flaky", func(ctx context.Context) error {
		switch runs.Add(1) {
		case 1, 2:
			return errors.New("device vanished")
		case 3:
			panic("driver bug")
		}
		<-ctx.Done()
		return nil
	})
	var steadyStopped atomic.Bool
	steady := PartFunc("steady", func(ctx context.Context) error {
		<-ctx.Done()
		steadyStopped.Store(true)
		return nil
	})
	var mu sync.Mutex
	var failures []Failure
	s := NewSupervisor(SupervisorOptions{
		Backoff: backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond},
		OnFailure: func(f Failure) {
			mu.Lock()
			failures = append(failures, f)
			mu.Unlock()
		},
	})
	s.Add(StageService, flaky)
	s.Add(StageProducer, steady)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, nil) }()

	waitFor(t, func() bool { return runs.Load() >= 4 })
	st := s.States()
	if st[0].Name != "flaky" || st[0].State != "running" || st[0].Restarts != 3 {
		t.Fatalf("flaky state = %+v", st[0])
	}
	if st[1].State != "running" || steadyStopped.Load() {
		t.Fatalf("a failing neighbour disturbed steady: %+v", st[1])
	}
	mu.Lock()
	if len(failures) != 3 || failures[2].Restarts != 3 || failures[0].Err.Error() != "device vanished" {
		t.Fatalf("failures reported: %+v", failures)
	}
	mu.Unlock()
	select {
	case err := <-done:
		t.Fatalf("supervisor ended by itself: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range s.States() {
		if p.State != "stopped" {
			t.Errorf("%s not stopped: %s", p.Name, p.State)
		}
	}
}

// TestStopOrder checks that producers stop before services and services before stores.
func TestStopOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mk := func(name string) Part {
		return PartFunc(name, func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(2 * time.Millisecond) // a flush
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return nil
		})
	}
	s := NewSupervisor(SupervisorOptions{})
	s.Add(StageStore, mk("store"))
	s.Add(StageProducer, mk("reader"))
	s.Add(StageService, mk("uploader"))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error)
	go func() { done <- s.Run(ctx, func() { close(ready) }) }()
	<-ready
	cancel()
	<-done
	if want := []string{"reader", "uploader", "store"}; !equal(order, want) {
		t.Fatalf("stop order %v, want %v", order, want)
	}
}

func TestNoRestart(t *testing.T) {
	var runs atomic.Int32
	s := NewSupervisor(SupervisorOptions{Backoff: backoff.Policy{Base: time.Millisecond}})
	s.Add(StageService, PartFunc("bad", func(context.Context) error {
		runs.Add(1)
		return errors.Join(ErrNoRestart, errors.New("bad settings"))
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, nil)
	waitFor(t, func() bool { return s.States()[0].State == "failed" })
	time.Sleep(20 * time.Millisecond)
	if runs.Load() != 1 {
		t.Fatalf("ErrNoRestart part ran %d times", runs.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

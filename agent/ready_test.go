package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
)

// upPart fails its first run, then comes up when release is closed.
type upPart struct {
	runs    chan struct{}
	release chan struct{}
	up      chan struct{}
}

func (p *upPart) Name() string { return "listener" }
func (p *upPart) Run(ctx context.Context) error {
	p.runs <- struct{}{}
	if len(p.runs) == 1 {
		return errors.New("address in use")
	}
	select {
	case <-p.release:
		close(p.up)
	case <-ctx.Done():
		return nil
	}
	<-ctx.Done()
	return nil
}
func (p *upPart) WaitUp(ctx context.Context) error {
	select {
	case <-p.up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestReadyWaitsForUpper: ready (systemd's READY=1) comes only once the Upper part is
// up, after a failed first start; a plain part counts once it runs. Waiting names the
// Upper while readiness waits for it (systemd's STATUS=), and only it.
func TestReadyWaitsForUpper(t *testing.T) {
	p := &upPart{runs: make(chan struct{}, 4), release: make(chan struct{}), up: make(chan struct{})}
	plain := PartFunc("plain", func(ctx context.Context) error { <-ctx.Done(); return nil })
	waiting := make(chan string, 4)
	s := NewSupervisor(SupervisorOptions{Backoff: backoff.Policy{Base: time.Millisecond, Max: time.Millisecond},
		Waiting: func(part string) { waiting <- part }})
	s.Add(StageStore, plain)
	s.Add(StageProducer, p)
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, func() { close(ready) }) }()
	waitFor(t, func() bool { return len(p.runs) >= 2 }) // failed once, running again
	select {
	case <-ready:
		t.Fatal("ready before the part was up")
	default:
	}
	if got := <-waiting; got != "listener" {
		t.Fatalf("waiting for %q, want listener", got)
	}
	close(p.release)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("ready never came")
	}
	if len(waiting) != 0 {
		t.Fatalf("waiting also for %q", <-waiting)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadyNotAfterCancel: a stop before the parts are up never reports ready.
func TestReadyNotAfterCancel(t *testing.T) {
	p := &upPart{runs: make(chan struct{}, 4), release: make(chan struct{}), up: make(chan struct{})}
	p.runs <- struct{}{} // no failing first run
	s := NewSupervisor(SupervisorOptions{})
	s.Add(StageProducer, p)
	called := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, func() { called <- struct{}{} }) }()
	waitFor(t, func() bool { return len(p.runs) >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(called) != 0 {
		t.Fatal("ready called although the part never came up")
	}
}

// TestWatchdogPings: the supervision loop pings while it runs.
func TestWatchdogPings(t *testing.T) {
	pings := make(chan struct{}, 100)
	s := NewSupervisor(SupervisorOptions{WatchdogInterval: time.Millisecond,
		Watchdog: func() {
			select {
			case pings <- struct{}{}:
			default:
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, nil) }()
	waitFor(t, func() bool { return len(pings) >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
)

// Part is a long-running piece of the daemon: a reader watcher, a scanner, the uploader,
// the MQTT session. Run blocks until ctx is done (then it returns nil or ctx's error) or
// the part fails (it returns the error). A failed part is restarted by the supervisor.
type Part interface {
	Name() string
	Run(ctx context.Context) error
}

// Stage orders start and stop: stores start first and stop last, producers (readers,
// scanners, the local API) start last and stop first, so nothing new arrives while the
// services in between flush.
type Stage int

// Stages, in start order.
const (
	StageStore Stage = iota
	StageService
	StageProducer
	numStages
)

// ErrNoRestart wrapped into a part's error tells the supervisor not to restart it
// (for example a configuration it can never work with). The failure is still reported.
var ErrNoRestart = errors.New("do not restart")

// Upper is a Part that tells when it is up, beyond having been started: the local API
// once it listens. The supervisor's ready waits for it (systemd's READY=1).
type Upper interface {
	Part
	// WaitUp returns nil once the part is up (also after a restart brought it up), or
	// ctx's error.
	WaitUp(ctx context.Context) error
}

// PartFunc adapts a function to a Part.
func PartFunc(name string, run func(ctx context.Context) error) Part { return partFunc{name, run} }

type partFunc struct {
	name string
	run  func(ctx context.Context) error
}

func (p partFunc) Name() string                  { return p.name }
func (p partFunc) Run(ctx context.Context) error { return p.run(ctx) }

// PartState is what the supervisor knows about one part, for status and telemetry.
type PartState struct {
	Name      string    `json:"name"`
	State     string    `json:"state"` // starting, running, restarting, failed, stopped
	Restarts  int       `json:"restarts"`
	LastError string    `json:"lastError,omitempty"`
	Since     time.Time `json:"since"`
}

// Failure reports a part that failed; the supervisor calls its OnFailure hook with it.
type Failure struct {
	Part     string
	Err      error
	Restarts int
	RetryIn  time.Duration // zero when the part will not be restarted
}

// Supervisor runs parts in stages and restarts the ones that fail with jittered backoff.
// Parts can also be started and stopped while it runs (a configuration applied in
// process replaces the parts it affects).
type Supervisor struct {
	log        *slog.Logger
	policy     backoff.Policy
	stableTime time.Duration // a part running this long has its backoff reset
	onFailure  func(Failure)
	watchdog   func()
	every      time.Duration
	waiting    func(part string)

	mu       sync.Mutex // guards the fields below
	stages   [numStages][]*Handle
	ctxs     [numStages]context.Context // set while running
	waits    [numStages]*sync.WaitGroup
	running  bool
	stopping bool
}

// Handle is a part added to a Supervisor; Stop stops and removes it.
type Handle struct {
	part  Part
	stage Stage
	state PartState     // guarded by the supervisor's mu
	stop  func()        // cancels the part's context; set when started
	done  chan struct{} // closed when its keeper returned; set when started
	// entered is closed when the part's Run was first called.
	entered   chan struct{}
	enterOnce sync.Once
}

// SupervisorOptions configures a Supervisor. Zero values pick the defaults.
type SupervisorOptions struct {
	Logger     *slog.Logger
	Backoff    backoff.Policy // default 500ms doubling to 30s
	StableTime time.Duration  // default 1m
	OnFailure  func(Failure)  // called from the failing part's goroutine; must not block
	// Watchdog, when set, is called every WatchdogInterval from the supervision loop
	// while it runs and is not stuck (systemd's WATCHDOG=1).
	Watchdog         func()
	WatchdogInterval time.Duration
	// Waiting, when set, is called with the name of each Upper that Run's readiness
	// waits for, before it waits.
	Waiting func(part string)
}

// NewSupervisor returns an empty supervisor.
func NewSupervisor(o SupervisorOptions) *Supervisor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff.Base == 0 {
		o.Backoff.Base = 500 * time.Millisecond
	}
	if o.StableTime == 0 {
		o.StableTime = time.Minute
	}
	return &Supervisor{log: o.Logger, policy: o.Backoff, stableTime: o.StableTime, onFailure: o.OnFailure,
		watchdog: o.Watchdog, every: o.WatchdogInterval, waiting: o.Waiting}
}

// Add registers p in stage st. Parts added before Run start with their stage; a part
// added while the supervisor runs starts at once (see Start).
func (s *Supervisor) Add(st Stage, p Part) { s.Start(st, p) }

// Start adds p to stage st and returns its handle. While the supervisor runs, p starts
// at once; after Run has begun to stop, p is not started.
func (s *Supervisor) Start(st Stage, p Part) *Handle {
	h := &Handle{part: p, stage: st, state: PartState{Name: p.Name(), State: "starting", Since: time.Now()},
		entered: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stages[st] = append(s.stages[st], h)
	if s.running && !s.stopping {
		s.launchLocked(h)
	}
	return h
}

// launchLocked starts h's keeper in its stage's context; s.mu is held.
func (s *Supervisor) launchLocked(h *Handle) {
	ctx, cancel := context.WithCancel(s.ctxs[h.stage])
	h.stop, h.done = cancel, make(chan struct{})
	wg := s.waits[h.stage]
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(h.done)
		s.keep(ctx, h)
	}()
}

// Stop stops the part of h and removes it from the supervisor. It waits until the part
// has returned, or ctx ends (the part then still stops in the background).
func (s *Supervisor) Stop(ctx context.Context, h *Handle) error {
	s.mu.Lock()
	list := s.stages[h.stage]
	for i, x := range list {
		if x == h {
			s.stages[h.stage] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	stop, done := h.stop, h.done
	s.mu.Unlock()
	h.enterOnce.Do(func() { close(h.entered) }) // no readiness wait on a removed part
	if stop == nil {
		return nil // never started
	}
	stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: part %s did not stop: %w", h.part.Name(), ctx.Err())
	}
}

// States returns a snapshot of every part's state in start order.
func (s *Supervisor) States() []PartState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PartState
	for _, st := range s.stages {
		for _, h := range st {
			out = append(out, h.state)
		}
	}
	return out
}

// Run starts the stages in order and calls ready (if not nil) once every part started
// with it is up: running, and for an Upper, WaitUp returned. When ctx is done it stops
// the stages in reverse order, each one fully before the next, and returns nil. Part
// failures never end Run. Meanwhile it calls the watchdog.
func (s *Supervisor) Run(ctx context.Context, ready func()) error {
	var cancels [numStages]context.CancelFunc
	var first []*Handle
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("agent: supervisor already running")
	}
	s.running = true
	for st := Stage(0); st < numStages; st++ {
		s.ctxs[st], cancels[st] = context.WithCancel(context.WithoutCancel(ctx))
		s.waits[st] = new(sync.WaitGroup)
		for _, h := range s.stages[st] {
			s.launchLocked(h)
			first = append(first, h)
		}
	}
	s.mu.Unlock()
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		if s.waitUp(ctx, first) && ready != nil {
			ready()
		}
	}()
	s.supervise(ctx)
	<-upDone
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for st := numStages - 1; st >= 0; st-- {
		cancels[st]()
		s.waits[st].Wait()
	}
	return nil
}

// waitUp waits until every part of hs has entered Run and every Upper among them is
// up. It reports false when ctx ended first.
func (s *Supervisor) waitUp(ctx context.Context, hs []*Handle) bool {
	for _, h := range hs {
		select {
		case <-h.entered:
		case <-ctx.Done():
			return false
		}
		u, ok := h.part.(Upper)
		if !ok {
			continue
		}
		s.mu.Lock()
		done := h.done
		s.mu.Unlock()
		wctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-done: // removed (a reload replaced it): not waited for
			case <-wctx.Done():
			}
			cancel()
		}()
		if s.waiting != nil {
			s.waiting(h.part.Name())
		}
		_ = u.WaitUp(wctx) // an error with ctx alive: the part was removed, not waited for
		cancel()
		if ctx.Err() != nil {
			return false
		}
	}
	return true
}

// supervise blocks until ctx is done, pinging the watchdog meanwhile. Each ping takes
// the supervisor's lock first, so a supervisor wedged on it stops the pings and the
// service manager restarts the process.
func (s *Supervisor) supervise(ctx context.Context) {
	if s.watchdog == nil || s.every <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.mu.Lock()
		alive := s.running
		s.mu.Unlock()
		if alive {
			s.watchdog()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keep runs one part until its context is done, restarting it after failures.
func (s *Supervisor) keep(ctx context.Context, h *Handle) {
	b := backoff.New(s.policy)
	name := h.part.Name()
	for {
		s.setState(h, "running", nil, false)
		h.enterOnce.Do(func() { close(h.entered) })
		start := time.Now()
		err := runGuarded(ctx, h.part)
		if ctx.Err() != nil {
			s.setState(h, "stopped", nil, false)
			return
		}
		if err == nil {
			err = errors.New("returned while the agent was running")
		}
		if time.Since(start) >= s.stableTime {
			b.Reset()
		}
		s.mu.Lock()
		restarts := h.state.Restarts
		s.mu.Unlock()
		f := Failure{Part: name, Err: err, Restarts: restarts}
		if errors.Is(err, ErrNoRestart) {
			s.setState(h, "failed", err, false)
			s.log.Error("part failed; not restarting", "part", name, "err", err)
			s.report(f)
			return
		}
		f.RetryIn = b.Next()
		f.Restarts++
		s.setState(h, "restarting", err, true)
		s.log.Warn("part failed; restarting", "part", name, "err", err, "retryIn", f.RetryIn.Round(time.Millisecond), "restarts", f.Restarts)
		s.report(f)
		if !backoff.Sleep(ctx, f.RetryIn) {
			s.setState(h, "stopped", nil, false)
			return
		}
	}
}

func (s *Supervisor) report(f Failure) {
	if s.onFailure != nil {
		s.onFailure(f)
	}
}

func (s *Supervisor) setState(h *Handle, state string, err error, restart bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.state.State = state
	h.state.Since = time.Now()
	if err != nil {
		h.state.LastError = err.Error()
	}
	if restart {
		h.state.Restarts++
	}
}

// runGuarded runs p and turns a panic into an error, so one broken part cannot take the
// daemon down.
func runGuarded(ctx context.Context, p Part) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return p.Run(ctx)
}

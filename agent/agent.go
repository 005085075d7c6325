// Package agent wires sscagent's parts together and supervises them: it builds every part
// from the configuration, starts them in stages (stores, services, producers), restarts a
// part that fails with jittered backoff and reports it, and stops everything in reverse
// order within a bounded time. The scene flows (card auth, QR auth, payment, medical)
// live here too as the one pipeline described in docs/.
//
// Config is the configuration tree; each section is owned by the package that uses it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/backoff"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/event"
	"github.com/sscagent/sscagent/localapi"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
	"github.com/sscagent/sscagent/version"
)

// StagedPart is a part with the stage it runs in.
type StagedPart struct {
	Stage Stage
	Part  Part
}

// Options are the run-time collaborators of an Agent. The zero value is valid.
type Options struct {
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// Level is the logger's level, changed at run time by reloads and management.
	Level *slog.LevelVar
	// Parts are added to the ones built from the configuration (tests and the demo).
	Parts []StagedPart
	// OnFailure is called for each part failure in addition to logging it.
	OnFailure func(Failure)
	// Ready is called once every part has started.
	Ready func()
	// Events is the bus every step publishes to (the local API stream, management and
	// the demo watch it); nil: the agent makes one.
	Events *event.Bus
}

// Agent is the daemon: the configuration and the supervised parts built from it.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	level   *slog.LevelVar
	sup     *Supervisor
	ready   func()
	started time.Time
	events  *event.Bus
	client  *platform.Client
	cards   *readers.Manager // nil when no scene takes cards
	api     *localapi.Server
}

// New builds the agent's parts from a validated configuration. It does not start them.
func New(cfg Config, o Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Level == nil {
		o.Level = new(slog.LevelVar)
	}
	if o.Events == nil {
		o.Events = event.NewBus(0)
	}
	a := &Agent{cfg: cfg, log: o.Logger, level: o.Level, ready: o.Ready, events: o.Events}
	a.sup = NewSupervisor(SupervisorOptions{
		Logger:    o.Logger.With("component", "supervisor"),
		Backoff:   backoff.Policy{Base: 500 * time.Millisecond, Max: cfg.Agent.RestartBackoffMax.D()},
		OnFailure: o.OnFailure,
	})
	if err := a.build(); err != nil {
		return nil, err
	}
	for _, sp := range o.Parts {
		a.sup.Add(sp.Stage, sp.Part)
	}
	return a, nil
}

// build makes the parts the configuration asks for.
func (a *Agent) build() error {
	cfg := a.cfg
	c, err := platform.New(cfg.Platform, platform.Options{TerminalID: cfg.Terminal.ID, AllowTestKeys: cfg.Terminal.Test,
		Logger: a.log.With("component", "platform")})
	if err != nil {
		return fmt.Errorf("agent: platform client: %w", err)
	}
	a.client = c
	if scenesTakeCards(cfg.Scenes) {
		o := readers.Options{Config: cfg.Cards, TestTerminal: cfg.Terminal.Test, Logger: a.log.With("component", "cards")}
		if cfg.Cards.HSM.Enabled {
			o.HSM = psam.PlatformHSM{Client: c, DeviceNo: cfg.Cards.DeviceNo}
		}
		if a.cards, err = readers.New(o); err != nil {
			return fmt.Errorf("agent: cards: %w", err)
		}
		a.sup.Add(StageProducer, a.cards)
	}
	tok, err := cfg.LocalAPI.TokenFile.Read()
	if err != nil {
		return fmt.Errorf("agent: localapi.tokenFile: %w", err)
	}
	a.api, err = localapi.New(localapi.Options{Config: cfg.LocalAPI, Token: strings.TrimSpace(string(tok)), Events: a.events,
		Logger: a.log.With("component", "localapi")})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.sup.Add(StageProducer, a.api)
	return nil
}

// scenesTakeCards reports whether any scene reads cards.
func scenesTakeCards(scenes []Scene) bool {
	for _, s := range scenes {
		if len(s.Readers) > 0 {
			return true
		}
	}
	return false
}

// Events returns the bus every step of the pipeline publishes to.
func (a *Agent) Events() *event.Bus { return a.events }

// Cards returns the card reader manager, or nil when no scene takes cards. With
// cards.driver sim, Cards().SimHub() inserts and removes the virtual cards.
func (a *Agent) Cards() *readers.Manager { return a.cards }

// LocalAPIAddr returns the local API's bound address once it serves (the configuration
// may say port 0), or "" before.
func (a *Agent) LocalAPIAddr() string { return a.api.BoundAddr() }

// Run prepares the state directory, starts every part and blocks until ctx is done; then
// it stops the parts, producers first, and returns. Part failures do not end Run; only a
// state directory that cannot be used does.
func (a *Agent) Run(ctx context.Context) error {
	if err := os.MkdirAll(a.cfg.Agent.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state directory: %w", err)
	}
	a.started = time.Now()
	v := version.Get()
	err := a.sup.Run(ctx, func() {
		a.log.Info("sscagent ready", "terminal", a.cfg.Terminal.ID, "version", v.Version,
			"parts", len(a.sup.States()), "stateDir", a.cfg.Agent.StateDir)
		if a.ready != nil {
			a.ready()
		}
	})
	a.log.Info("sscagent stopped", "uptime", time.Since(a.started).Round(time.Millisecond))
	return err
}

// Parts returns the state of every supervised part.
func (a *Agent) Parts() []PartState { return a.sup.States() }

// SetLevel changes the log level while running.
func (a *Agent) SetLevel(l slog.Level) { a.level.Set(l) }

// ErrShutdownTimeout means the parts did not stop within the configured bound.
var ErrShutdownTimeout = errors.New("agent: shutdown did not finish in time")

// Runner runs an Agent in the background and stops it within a bound. It is what the
// foreground command and the system service share.
type Runner struct {
	cancel  context.CancelFunc
	timeout time.Duration
	done    chan struct{}

	once sync.Once
	err  error // set before done is closed
}

// Start runs a in a new goroutine.
func Start(a *Agent) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel, timeout: a.cfg.Agent.ShutdownTimeout.D(), done: make(chan struct{})}
	go func() {
		r.err = a.Run(ctx)
		close(r.done)
	}()
	return r
}

// Done is closed when the agent has stopped, by Stop or by a fatal error.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Err returns the agent's result once Done is closed.
func (r *Runner) Err() error {
	<-r.done
	return r.err
}

// Stop asks the agent to stop and waits at most the configured shutdown timeout.
func (r *Runner) Stop() error {
	r.once.Do(r.cancel)
	t := time.NewTimer(r.timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-t.C:
		return fmt.Errorf("%w (%s)", ErrShutdownTimeout, r.timeout)
	}
}

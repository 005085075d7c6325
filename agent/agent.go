// Package agent wires sscagent's parts together and supervises them: it builds every part
// from the configuration, starts them in stages (stores, services, producers), restarts a
// part that fails with jittered backoff and reports it, and stops everything in reverse
// order within a bounded time. The scene flows (card auth, QR auth, payment, medical,
// kiosk) live here too, as the one pipeline described in docs/agent.md.
//
// Config is the configuration tree; each section is owned by the package that uses it.
// The agent adapts the platform client to the consumer interfaces of payment, backflow
// and psam, serves the local API's services, and gives terminal management its Applier
// (remote configuration applied in process), its Source and its commands.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/agent/metrics"
	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/rollout"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue"
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
	// Ready is called once every part is up (the local API listens).
	Ready func()
	// Waiting, when set, is called with the name of each part that can tell whether it
	// is up (the local API) while readiness waits for it (systemd's STATUS=).
	Waiting func(part string)
	// Watchdog, when set, is called every WatchdogInterval from the supervision loop
	// (systemd's WATCHDOG=1): a hung agent stops calling it.
	Watchdog         func()
	WatchdogInterval time.Duration
	// Events is the bus every step publishes to (the local API stream, management and
	// the demo watch it); nil: the agent makes one.
	Events *event.Bus
	// ConfigPath is the file the configuration was loaded from. Remote configuration
	// (terminal management) lays its documents over this file, and the reload command
	// re-reads it. Empty: remote configuration and reload are off.
	ConfigPath string
	// Adjust, when set, is applied to every configuration the agent loads from
	// ConfigPath itself (remote documents, reload), as the caller applied it to the
	// configuration it passed to New (a command-line override of the state directory).
	Adjust func(*Config)
	// Restart, when set, restarts the whole agent process (terminal management's
	// restart command, and a remote configuration that changes settings only a restart
	// applies: agent, log.format, terminal, mgmt, queue, payment). It must not block.
	Restart func(reason string)
	// Scanners, by scanner name, replace the device a configured scanner would open
	// (the demo's console scanner, tests); the scanner frames, checks and classifies
	// what they deliver like any other device's bytes.
	Scanners map[string]qrscan.Opener
	// Executable is the program file software updates from the fleet replace
	// (upgrade.Executable); empty: the upgrade command is refused.
	Executable string
}

// Agent is the daemon: the configuration and the supervised parts built from it.
type Agent struct {
	log      *slog.Logger
	level    *slog.LevelVar
	sup      *Supervisor
	events   *event.Bus
	ready    func()
	restart  func(reason string)
	path     string
	adjust   func(*Config)
	extra    []StagedPart
	scanDevs map[string]qrscan.Opener // Options.Scanners

	link  *link
	gw    *gateway
	reads *readStore
	// twoSteps are the reader library's HSM two-steps waiting for Step 2.
	twoSteps twoStepStore
	waits    *payWaits
	held     heldStore // the queue as the uploader sees it

	rollout *rollout.Engine
	mgmt    *mgmt.Session
	upgrade *upgrade.Updater // with mgmt
	metrics *metrics.Metrics
	// metricsAddr is where GET /metrics listens, once it does.
	metricsAddr atomic.Pointer[string]

	// Set by Run before any part starts, read by the parts afterwards.
	queue    *queue.Queue
	payments *payment.Manager
	recorder *payRecorder
	started  time.Time
	med      medicalState // the medical settlement journal (medical.go)
	logins   loginStore   // the QR logins of the last minutes (login.go)

	applyMu sync.Mutex // one configuration change at a time

	mu  sync.Mutex // guards the fields below
	cfg Config
	doc []byte // the remote overlay the configuration was built with
	gen *generation
	ran bool
}

// New builds the agent's parts from a validated configuration. It reads the key files
// the configuration names, but opens no store and starts nothing: Run does.
func New(cfg Config, o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Level == nil {
		o.Level = new(slog.LevelVar)
	}
	if o.Events == nil {
		o.Events = event.NewBus(0)
	}
	a := &Agent{log: o.Logger, level: o.Level, events: o.Events, ready: o.Ready, restart: o.Restart,
		path: o.ConfigPath, adjust: o.Adjust, extra: o.Parts, scanDevs: o.Scanners, reads: newReadStore(readTTL), waits: newPayWaits()}
	a.held.a = a
	a.metrics = metrics.New(metrics.SourceFunc(a.metricsSnapshot))
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A downgrade meets a newer state directory here, before anything reads it.
	if err := CheckStateDir(cfg.Agent.StateDir); err != nil {
		return nil, err
	}
	if cfg.Mgmt.Enabled() && o.ConfigPath != "" {
		var err error
		if cfg, err = a.openRollout(cfg); err != nil {
			return nil, err
		}
	}
	a.cfg = cfg
	a.sup = NewSupervisor(SupervisorOptions{
		Logger:   o.Logger.With("component", "supervisor"),
		Backoff:  backoff.Policy{Base: 500 * time.Millisecond, Max: cfg.Agent.RestartBackoffMax.D()},
		Watchdog: o.Watchdog, WatchdogInterval: o.WatchdogInterval, Waiting: o.Waiting,
		OnFailure: func(f Failure) {
			a.emit(KindPartFailed, "", f.Part, false, CodePartFailed, f.Err.Error(),
				map[string]any{"part": f.Part, "restarts": f.Restarts, "retryInMs": f.RetryIn.Milliseconds()})
			if o.OnFailure != nil {
				o.OnFailure(f)
			}
		},
	})
	a.link = &link{onUp: a.platformUp, onDown: a.platformDown}
	c, err := a.newClient(cfg)
	if err != nil {
		return nil, err
	}
	a.link.c.Store(c)
	a.gw = newGateway(a.link)
	a.gw.sceneOf = a.sceneOfOrder
	a.gw.qrFor = max(cfg.Payment.QueryFor.D().Round(time.Second), time.Minute)
	a.gw.onMerchantQR = a.merchantQR
	gen, err := a.build(cfg, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	a.gen = gen
	if cfg.Mgmt.Enabled() {
		if a.upgrade, err = a.newUpdater(cfg, o); err != nil {
			c.Close()
			return nil, err
		}
		if a.mgmt, err = a.newMgmt(cfg); err != nil {
			c.Close()
			return nil, err
		}
	}
	return a, nil
}

// newClient builds the platform client of cfg.
func (a *Agent) newClient(cfg Config) (*platform.Client, error) {
	c, err := platform.New(cfg.Platform, platform.Options{TerminalID: cfg.Terminal.ID, AllowTestKeys: cfg.Terminal.Test,
		Logger: a.log.With("component", "platform"), OnCall: a.observeCall})
	if err != nil {
		return nil, fmt.Errorf("agent: platform client: %w", err)
	}
	for _, w := range cfg.Platform.Deprecations() {
		a.log.Warn("deprecated setting", "detail", w)
	}
	for _, w := range cfg.transportWarnings() {
		a.log.Warn("unencrypted link allowed by configuration", "detail", w)
	}
	a.log.Info("platform profile", "profile", c.Profile().Name)
	return c, nil
}

// openRollout opens the remote configuration engine before any part is built and
// returns the configuration to build from: the file with the engine's boot document
// over it (docs/mgmt-protocol.md §13).
func (a *Agent) openRollout(file Config) (Config, error) {
	eng, err := rollout.Open(rollout.Options{
		Dir:      filepath.Join(file.Agent.StateDir, "rollout"),
		Applier:  applier{a},
		Window:   file.Mgmt.HealthGate.Window.D(),
		Interval: file.Mgmt.HealthGate.Interval.D(),
		Logger:   a.log.With("component", "rollout"),
	})
	if err != nil {
		return file, fmt.Errorf("agent: remote configuration: %w", err)
	}
	a.rollout = eng
	boot := eng.Boot()
	if len(boot.Doc) == 0 {
		return file, nil
	}
	cfg, err := a.load(boot.Doc)
	if err != nil {
		// The document was valid when it was committed; the file has changed since.
		a.log.Error("remote configuration no longer applies to the file; running the file alone",
			"version", boot.Ref.Version, "err", err)
		return file, nil
	}
	a.doc = boot.Doc
	return cfg, nil
}

// load reads the configuration file with a remote document over it.
func (a *Agent) load(doc []byte) (Config, error) {
	cfg, err := LoadConfigOverlay(a.path, doc)
	if err != nil {
		return cfg, err
	}
	if a.adjust != nil {
		a.adjust(&cfg)
		cfg = cfg.withDefaults()
		if err := cfg.Validate(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// Run opens the stores, starts every part and blocks until ctx is done; then it stops
// the parts, producers first, and closes the stores. Part failures do not end Run; only
// a state directory or store that cannot be used does. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.ran {
		a.mu.Unlock()
		return errors.New("agent: Run called twice")
	}
	a.ran = true
	cfg := a.cfg
	a.mu.Unlock()
	defer func() { a.link.client().Close() }() // the client of the last configuration applied
	if err := CheckStateDir(cfg.Agent.StateDir); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Agent.StateDir, 0o700); err != nil {
		return fmt.Errorf("agent: state directory: %w", err)
	}
	if err := a.openStores(ctx, cfg); err != nil {
		return err
	}
	defer a.closeStores()
	if err := markStateDir(cfg.Agent.StateDir); err != nil {
		return err
	}
	a.warnPlainSecrets(cfg)
	a.started = time.Now()
	a.addParts()
	v := version.Get()
	err := a.sup.Run(ctx, func() {
		a.log.Info("sscagent ready", "terminal", cfg.Terminal.ID, "version", v.Version,
			"parts", len(a.sup.States()), "stateDir", cfg.Agent.StateDir)
		a.emit(KindReady, "", "", true, CodeReady, "", map[string]any{"version": v.Version})
		if a.ready != nil {
			a.ready()
		}
		if a.upgrade != nil {
			a.upgrade.Started(ctx)
			go a.reportHealthy(ctx) // ends with ctx
		}
	})
	a.log.Info("sscagent stopped", "uptime", time.Since(a.started).Round(time.Millisecond))
	return err
}

// openStores opens the queue and the payment file and settles what a crash left
// between them, before any part can read or write them.
func (a *Agent) openStores(ctx context.Context, cfg Config) error {
	ks := cfg.Queue.KeySource(cfg.Agent.StateDir)
	key, from, err := ks.Load(true)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if from == queue.KeyFromMigrated {
		a.log.Warn("queue key wrapped under queue.keySecret and the plain key file deleted; the records stay readable",
			"secret", string(ks.Secret), "wrapped", ks.Wrapped, "deleted", string(ks.Plain))
	}
	qo := cfg.Queue.Options()
	qo.Terminal, qo.Key, qo.Logger = cfg.Terminal.ID, key, a.log.With("component", "queue")
	q, err := queue.Open(filepath.Join(cfg.Agent.StateDir, queue.FileName), qo)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	p, err := payment.Open(filepath.Join(cfg.Agent.StateDir, payment.FileName), payment.Options{
		Terminal: cfg.Terminal.ID, Gateway: a.gw, Config: cfg.Payment, OnChange: a.paymentChanged,
		Refunds: a.gw, OnRefundChange: a.refundChanged, OnPruned: a.paymentsPruned,
		Logger: a.log.With("component", "payment")})
	if err != nil {
		q.Close()
		return fmt.Errorf("agent: %w", err)
	}
	a.queue, a.payments = q, p
	a.recorder = newPayRecorder(a)
	if err := a.recorder.reconcile(ctx); err != nil {
		a.closeStores()
		return fmt.Errorf("agent: settling payment records: %w", err)
	}
	if err := a.reconcileMedical(ctx); err != nil {
		a.closeStores()
		return fmt.Errorf("agent: settling medical settlement records: %w", err)
	}
	return nil
}

func (a *Agent) closeStores() {
	a.closeMedical()
	if err := a.payments.Close(); err != nil {
		a.log.Error("closing the payment file", "err", err)
	}
	if err := a.queue.Close(); err != nil {
		a.log.Error("closing the queue", "err", err)
	}
}

// addParts registers the stores' services, management and the generation's parts.
func (a *Agent) addParts() {
	a.sup.Add(StageService, a.payments)
	a.sup.Add(StageService, a.recorder)
	a.sup.Add(StageService, retention{a})
	if a.mgmt != nil {
		a.sup.Add(StageService, a.mgmt)
	}
	if addr := a.Config().Metrics.Listen; addr != "" {
		a.sup.Add(StageService, &metrics.Server{Addr: addr, Handler: a.metrics.Handler(), Bound: a.metricsBound})
	}
	a.mu.Lock()
	g := a.gen
	a.mu.Unlock()
	g.start(a.sup, allGroups)
	for _, sp := range a.extra {
		a.sup.Add(sp.Stage, sp.Part)
	}
}

// Parts returns the state of every supervised part.
func (a *Agent) Parts() []PartState { return a.sup.States() }

// SetLevel changes the log level while running.
func (a *Agent) SetLevel(l slog.Level) { a.level.Set(l) }

// Events returns the bus every step of the pipeline publishes to.
func (a *Agent) Events() *event.Bus { return a.events }

// Cards returns the card reader manager, or nil when no scene takes cards. With
// cards.driver sim, Cards().SimHub() inserts and removes the virtual cards. A
// configuration applied in process that changes the cards section replaces it.
func (a *Agent) Cards() *readers.Manager {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen.cards
}

// LocalAPIAddr returns the local API's bound address once it serves (the configuration
// may say port 0), or "" before.
func (a *Agent) LocalAPIAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen.api.BoundAddr()
}

// Config returns the running configuration.
func (a *Agent) Config() Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// ErrShutdownTimeout means the parts did not stop within the configured bound.
var ErrShutdownTimeout = errors.New("agent: shutdown did not finish in time")

// Runner runs an Agent in the background and stops it within a bound. It is what the
// foreground command and the system service share.
type Runner struct {
	cancel  context.CancelFunc
	timeout time.Duration
	done    chan struct{}
	a       *Agent

	once sync.Once
	err  error // set before done is closed
}

// Start runs a in a new goroutine.
func Start(a *Agent) *Runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel, timeout: a.Config().Agent.ShutdownTimeout.D(), done: make(chan struct{}), a: a}
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
	r.once.Do(func() {
		r.a.emit(KindStopping, "", "", true, CodeStopping, "", nil)
		r.cancel()
	})
	t := time.NewTimer(r.timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err
	case <-t.C:
		return fmt.Errorf("%w (%s)", ErrShutdownTimeout, r.timeout)
	}
}

package mgmt

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// Options are what a Session needs from the agent. Config, Identity and StateDir are
// required; every other zero value turns the matching feature off.
type Options struct {
	// Config is the mgmt section (defaults are applied to zero fields).
	Config Config
	// Identity is the registration announced in the birth; its ID names the topics.
	Identity terminal.Identity
	// Scenes are announced in the birth.
	Scenes []Scene
	// Platform is the platform connection announced in the birth; nil: none.
	Platform *PlatformInfo
	// Install is how the agent was installed (binary, deb, rpm), announced in the
	// birth's software; empty: not said.
	Install string
	// StateDir is the agent's state directory; the session keeps its epoch counter
	// and the ids of recent commands in StateDir/mgmt.
	StateDir string
	// Source reports devices and services for telemetry and health; nil reports only
	// the agent process and the MQTT link.
	Source Source
	// Events are forwarded (filtered by Config.Events) to the events topic; the session
	// also publishes its own events (configuration results, online/offline) there.
	Events *event.Bus
	// Rollout takes remote configuration; nil leaves config/desired unsubscribed.
	Rollout *rollout.Engine
	// Level enables the log.level command.
	Level *slog.LevelVar
	// Restart enables the restart command; it is called once the command's result has
	// been delivered (or after 5s when it cannot be) and must not block.
	Restart func(reason string)
	// Commands are the agent's commands (reload, queue.stats, queue.flush,
	// readers.rescan, ...). A name of a built-in command is an error.
	Commands map[string]Command
	// Diagnostics adds sections to the diagnostics bundle (masked before sending).
	Diagnostics func(ctx context.Context) map[string]any
	// Logger receives the session's logs; nil discards them.
	Logger *slog.Logger
}

// Session is the agent's MQTT session with terminal management: an agent.Part.
type Session struct {
	o       Options
	cfg     Config
	topics  Topics
	log     *slog.Logger
	boot    string
	started time.Time
	cmds    map[string]Command
	out     *outbox
	seen    *seenIDs
	guard   guard
	dir     string
	inbox   chan mqttc.Message
	tickNow chan struct{}
	running atomic.Bool

	connects, failures, sessionsLost               atomic.Uint64
	inboxDropped, retainedCmds, dupCmds, takenCmds atomic.Uint64
	refusedCmds                                    atomic.Uint64
	telemetrySeq                                   atomic.Uint64
	forwardedSeq                                   atomic.Uint64 // last bus event handed to the outbox

	mu         sync.Mutex // guards the fields below
	epoch      uint64     // of the current (or last) connection
	online     bool
	lastErr    string
	hadSession bool
	lastBad    string // hash of the last malformed desired payload reported
	proc       procSampler
	overflowAt time.Time

	jobsMu  sync.Mutex // guards the fields below
	jobs    []job      // accepted commands waiting for a worker
	workers int        // running command workers, at most commandWorkers
	jobsWG  sync.WaitGroup
}

// ErrRunning means Run was called while the session was already running.
var ErrRunning = errors.New("mgmt: session is already running")

// New checks the options, reads the pinned manager keys (Config.ManagerKeys) and builds
// a session.
func New(o Options) (*Session, error) {
	if o.StateDir == "" {
		return nil, errors.New("mgmt: StateDir is required")
	}
	if err := CheckTerminalID(o.Identity.ID); err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	cfg := o.Config.withDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("mgmt: no broker configured")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "sscagent-" + o.Identity.ID
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	keys, err := LoadManagerKeys(cfg.ManagerKeys)
	if err != nil {
		return nil, fmt.Errorf("mgmt: %w", err)
	}
	var b [8]byte
	_, _ = crand.Read(b[:])
	s := &Session{
		guard: guard{keys: keys, test: o.Identity.Test, terminal: o.Identity.ID, skew: cfg.MaxClockSkew.D()},
		o:     o, cfg: cfg,
		topics:  Topics{Prefix: cfg.TopicPrefix, Terminal: o.Identity.ID},
		log:     o.Logger,
		boot:    hex.EncodeToString(b[:]),
		started: time.Now(),
		out:     newOutbox(cfg.Buffer),
		dir:     filepath.Join(o.StateDir, "mgmt"),
		inbox:   make(chan mqttc.Message, 1024),
		tickNow: make(chan struct{}, 1),
	}
	s.cmds = s.builtins()
	for name, c := range o.Commands {
		if _, dup := s.cmds[name]; dup {
			return nil, fmt.Errorf("mgmt: command %q is built in", name)
		}
		if c == nil || name == "" {
			return nil, fmt.Errorf("mgmt: command %q has no handler", name)
		}
		s.cmds[name] = c
	}
	return s, nil
}

// Name implements agent.Part.
func (s *Session) Name() string { return "mgmt" }

// Topics returns the session's topic names.
func (s *Session) Topics() Topics { return s.topics }

// Online reports whether the session is connected.
func (s *Session) Online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.online
}

// Epoch returns the epoch of the current (or last) connection (docs/mgmt-protocol.md
// §3.2).
func (s *Session) Epoch() uint64 { return s.currentEpoch() }

// OutboxLen returns the number of messages waiting to be sent.
func (s *Session) OutboxLen() int { return s.out.len() }

func (s *Session) currentEpoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// Run connects, keeps the session up and serves it until ctx ends; then it publishes
// the offline state with the session's epoch and disconnects. It returns nil when ctx
// ends, or an error when its state directory cannot be used.
func (s *Session) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	ep, err := openEpochs(s.dir)
	if err != nil {
		return err
	}
	if ep.damaged != nil {
		s.log.Warn("mgmt: " + ep.damaged.Error())
	}
	if s.seen == nil {
		s.seen = openSeen(s.dir, seenCommands)
	}
	s.announceKeys()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var fatal error
	var fatalOnce sync.Once
	if s.o.Rollout != nil {
		wg.Go(func() {
			if err := s.o.Rollout.Run(ctx, s.onReport); err != nil {
				fatalOnce.Do(func() { fatal = fmt.Errorf("mgmt: remote configuration: %w", err) })
				cancel()
			}
		})
	}
	if s.o.Events != nil {
		// The first Run also forwards what the bus remembers from before it (start-up
		// events); a Run after a restart of the part continues where the last one ended.
		sub := s.o.Events.Subscribe(256, true, s.forwardedSeq.Load())
		defer sub.Close()
		wg.Go(func() { s.forwardEvents(ctx, sub) })
	}
	wg.Go(func() { s.telemetryLoop(ctx) })
	wg.Go(func() { s.processInbox(ctx) })
	s.connectLoop(ctx, ep)
	cancel()
	wg.Wait()       // nothing takes new commands now
	s.jobsWG.Wait() // commands honour ctx
	return fatal
}

// receive is paho's message callback: it must not block.
func (s *Session) receive(m mqttc.Message) {
	select {
	case s.inbox <- m:
	default:
		s.inboxDropped.Add(1)
	}
}

// processInbox handles incoming messages in arrival order.
func (s *Session) processInbox(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.inbox:
			p, ok := ParseTopic(s.topics.Prefix, m.Topic)
			if !ok || p.Terminal != s.topics.Terminal {
				s.log.Debug("mgmt: message on an unexpected topic ignored", "topic", m.Topic)
				continue
			}
			switch p.Kind {
			case KindCommand:
				s.takeCommand(ctx, p.ID, m)
			case KindDesired:
				s.takeDesired(m)
			case KindState:
				s.takeState(m)
			}
		}
	}
}

// announceKeys says at start how the session trusts management messages (§10.1).
func (s *Session) announceKeys() {
	g := s.guard
	switch {
	case len(g.keys) > 0:
		s.log.Info("mgmt: configuration and commands must be signed by a pinned manager key", "keys", g.keys.IDs())
	case g.test:
		s.log.Warn("mgmt: no manager key pinned (mgmt.managerKeys): this test terminal takes UNSIGNED configuration and commands; pin a key before it leaves the lab")
		s.emit("mgmt.nokeys", false, CodeNoManagerKeys, map[string]any{"test": true})
	default:
		s.log.Error("mgmt: no manager key pinned (mgmt.managerKeys): every configuration document and command is refused; telemetry and events still flow")
		s.emit("mgmt.nokeys", false, CodeNoManagerKeys, map[string]any{"test": false})
	}
}

// refused logs and raises the event of a refused message; data says which message.
func (s *Session) refused(msg string, r *Refusal, data map[string]any) {
	data["message"], data["reason"] = msg, r.Reason
	s.log.Warn("mgmt: "+msg+" refused", "reason", r.Reason, "detail", mask.Text(r.Detail))
	s.emit("mgmt.refused", false, CodeRefused, data)
}

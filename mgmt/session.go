package mgmt

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/internal/version"
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
	dir     string
	inbox   chan mqttc.Message
	tickNow chan struct{}
	running atomic.Bool

	connects, failures, sessionsLost               atomic.Uint64
	inboxDropped, retainedCmds, dupCmds, takenCmds atomic.Uint64
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

// New checks the options and builds a session; it does no I/O.
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
	var b [8]byte
	_, _ = crand.Read(b[:])
	s := &Session{
		o: o, cfg: cfg,
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
		s.seen = openSeen(s.dir, 256)
	}
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

// connectLoop keeps a connection up until ctx ends.
func (s *Session) connectLoop(ctx context.Context, ep *epochs) {
	b := backoff.New(backoff.Policy{Base: s.cfg.Reconnect.Min.D(), Max: s.cfg.Reconnect.Max.D()})
	var delay time.Duration
	for {
		if !backoff.Sleep(ctx, delay) {
			return
		}
		conn, epoch, err := s.connect(ctx, ep)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.noteFailure(err, b.Failures())
			delay = b.Next()
			continue
		}
		up := time.Now()
		s.serve(ctx, conn)
		if ctx.Err() != nil {
			s.goodbye(conn, epoch)
			return
		}
		s.noteLost(conn.Err(), epoch)
		// The first attempt after losing a connection waits a random time, so a fleet
		// that lost the same broker does not return at the same instant; a link that
		// did not stay up long also keeps its backoff.
		delay = time.Duration(rand.Int64N(int64(s.cfg.Reconnect.FirstDelayMax.D()) + 1))
		if time.Since(up) >= s.cfg.Reconnect.StableAfter.D() {
			b.Reset()
		} else {
			delay += b.Next()
		}
	}
}

// connect opens one connection: a new epoch, the will, subscriptions, the birth.
func (s *Session) connect(ctx context.Context, ep *epochs) (*mqttc.Conn, uint64, error) {
	epoch, err := ep.next()
	if err != nil {
		return nil, 0, err
	}
	now := time.Now().UTC()
	will, err := json.Marshal(State{V: ProtocolVersion, Status: StatusOffline, Epoch: epoch, Boot: s.boot,
		Reason: ReasonConnectionLost, Time: now})
	if err != nil {
		return nil, 0, err
	}
	o := mqttc.Options{
		Brokers:        s.cfg.Brokers,
		ClientID:       s.cfg.ClientID,
		Username:       s.cfg.Username,
		KeepAlive:      s.cfg.KeepAlive.D(),
		ConnectTimeout: s.cfg.ConnectTimeout.D(),
		Will:           &mqttc.Message{Topic: s.topics.State(), Payload: will, QoS: 1, Retained: true},
		OnMessage:      s.receive,
	}
	if s.cfg.PasswordFile != "" {
		pw, err := s.cfg.PasswordFile.Read()
		if err != nil {
			return nil, 0, fmt.Errorf("mqtt password: %w", err)
		}
		o.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if s.usesTLS() {
		t := s.cfg.TLS
		if o.TLS, err = (mqttc.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}).Config(); err != nil {
			return nil, 0, err
		}
	}
	dctx, cancel := context.WithTimeout(ctx, time.Duration(len(s.cfg.Brokers)+1)*s.cfg.ConnectTimeout.D())
	defer cancel()
	conn, err := mqttc.Dial(dctx, o)
	if err != nil {
		return nil, 0, err
	}
	filters := map[string]byte{s.topics.CommandFilter(): 1, s.topics.State(): 1}
	if s.o.Rollout != nil {
		filters[s.topics.Desired()] = 1
	}
	s.mu.Lock()
	s.epoch = epoch
	had := s.hadSession
	s.hadSession = true
	s.mu.Unlock()
	if had && !conn.SessionPresent() {
		s.sessionsLost.Add(1)
	}
	// Resubscribe on every connection, session present or not: a broker may keep a
	// session but lose subscriptions (expiry, failover), and SUBSCRIBE is idempotent.
	// The retained desired configuration arrives with the SUBACK.
	if err := conn.Subscribe(dctx, filters); err != nil {
		conn.Abort()
		return nil, 0, err
	}
	if err := conn.Publish(dctx, mqttc.Message{Topic: s.topics.State(), Payload: s.birth(epoch), QoS: 1, Retained: true}); err != nil {
		conn.Abort()
		return nil, 0, err
	}
	s.connects.Add(1)
	s.mu.Lock()
	s.online = true
	s.lastErr = ""
	s.mu.Unlock()
	s.log.Info("mgmt: online", "broker", strings.Join(s.cfg.Brokers, ","), "epoch", epoch, "sessionPresent", conn.SessionPresent())
	s.emit("mgmt.online", true, CodeOnline, map[string]any{"epoch": epoch})
	select {
	case s.tickNow <- struct{}{}: // a telemetry sample right after the birth
	default:
	}
	return conn, epoch, nil
}

func (s *Session) usesTLS() bool {
	for _, b := range s.cfg.Brokers {
		if i := strings.Index(b, "://"); i > 0 && mqttc.IsTLS(b[:i]) {
			return true
		}
	}
	return false
}

// birth is the retained online state of this connection.
func (s *Session) birth(epoch uint64) []byte {
	started := s.started.UTC()
	st := State{V: ProtocolVersion, Status: StatusOnline, Epoch: epoch, Boot: s.boot, Time: time.Now().UTC(),
		StartedAt: &started, Terminal: RegistrationOf(s.o.Identity), Scenes: s.o.Scenes,
		Software: software(), Config: s.configState()}
	b, _ := json.Marshal(st)
	return b
}

func software() *Software {
	v := version.Get()
	return &Software{Version: v.Version, Commit: v.Commit, Go: v.Go}
}

func (s *Session) configState() *ConfigState {
	if s.o.Rollout == nil {
		return nil
	}
	st := s.o.Rollout.Status()
	return &ConfigState{Version: st.Committed.Version, SHA256: st.Committed.SHA256, Pending: st.Pending, Phase: st.Phase}
}

// sendWindow is how many messages may await their PUBACK at once.
const sendWindow = 16

// serve sends the outbox over conn until the connection is lost or ctx ends. Up to
// sendWindow messages are in flight; they are confirmed in order, and when one fails it
// and every later one go back to the front of their lanes, so nothing is lost and the
// order within a lane is kept (a resend may duplicate: delivery is at least once).
func (s *Session) serve(ctx context.Context, conn *mqttc.Conn) {
	timeout := max(s.cfg.ConnectTimeout.D(), 10*time.Second)
	type sent struct {
		it   item
		l    lane
		wait *mqttc.Pending
	}
	batch := make([]sent, 0, sendWindow)
	for {
		batch = batch[:0]
		for len(batch) < sendWindow {
			it, l, ok := s.out.take()
			if !ok {
				break
			}
			batch = append(batch, sent{it: it, l: l, wait: conn.PublishAsync(it.msg)})
		}
		if len(batch) == 0 {
			select {
			case <-s.out.notify:
				continue
			case <-conn.Lost():
				return
			case <-ctx.Done():
				return
			}
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		for i, b := range batch {
			if err := b.wait.Wait(pctx); err != nil {
				cancel()
				for j := len(batch) - 1; j >= i; j-- {
					s.out.giveBack(batch[j].l, batch[j].it)
				}
				if ctx.Err() == nil {
					// No acknowledgement in time: the link is dead even if TCP has not
					// noticed. Drop it so the broker publishes the will and we reconnect.
					s.log.Warn("mgmt: publish failed; reconnecting", "topic", b.it.msg.Topic, "err", err)
					conn.Abort()
				}
				return
			}
			b.it.finish(true)
		}
		cancel()
	}
}

// goodbye ends the session cleanly at shutdown: it flushes pending results for a
// moment, publishes the offline state with this session's epoch (retained, like the
// will it replaces) and disconnects. The explicit offline message makes a clean stop
// look like a death to consumers without relying on the will, which a DISCONNECT
// cancels.
func (s *Session) goodbye(conn *mqttc.Conn, epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		it, l, ok := s.out.take()
		if !ok || l != laneResults {
			if ok {
				s.out.giveBack(l, it)
			}
			break
		}
		if err := conn.Publish(ctx, it.msg); err != nil {
			s.out.giveBack(l, it)
			break
		}
		it.finish(true)
	}
	off, _ := json.Marshal(State{V: ProtocolVersion, Status: StatusOffline, Epoch: epoch, Boot: s.boot,
		Reason: ReasonShutdown, Time: time.Now().UTC()})
	if err := conn.Publish(ctx, mqttc.Message{Topic: s.topics.State(), Payload: off, QoS: 1, Retained: true}); err != nil {
		s.log.Warn("mgmt: offline state not published; the broker will publish the will", "err", err)
	}
	// Up to 2s for the DISCONNECT to reach the broker (paho returns as soon as it is
	// written): one that does not arrive makes the broker publish the will, and the clean
	// stop would read as a lost connection. A loaded machine can need more than a moment.
	conn.Close(2 * time.Second)
	s.mu.Lock()
	s.online = false
	s.mu.Unlock()
	s.log.Info("mgmt: disconnected", "epoch", epoch)
}

func (s *Session) noteFailure(err error, failures int) {
	s.failures.Add(1)
	s.mu.Lock()
	s.lastErr = mask.Text(err.Error())
	s.mu.Unlock()
	code := CodeOffline
	var re *mqttc.RefusedError
	if errors.As(err, &re) && re.Auth() {
		code = CodeAuthRefused
	}
	// Log the first failure of a run and then every tenth, so an outage of hours does
	// not flood the log.
	if failures%10 == 0 {
		s.log.Warn("mgmt: cannot connect", "err", err, "failures", failures+1)
		s.emit("mgmt.offline", false, code, map[string]any{"error": err.Error()})
	}
}

func (s *Session) noteLost(err error, epoch uint64) {
	s.mu.Lock()
	s.online = false
	if err != nil {
		s.lastErr = mask.Text(err.Error())
	}
	s.mu.Unlock()
	s.log.Warn("mgmt: connection lost", "err", err, "epoch", epoch)
	s.emit("mgmt.offline", false, CodeOffline, map[string]any{"epoch": epoch})
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

// takeDesired hands a desired configuration to the rollout.
func (s *Session) takeDesired(m mqttc.Message) {
	if len(m.Payload) == 0 {
		return // retained message cleared
	}
	d, err := DecodeDesired(m.Payload)
	if err != nil {
		h := rollout.Hash(m.Payload)
		s.mu.Lock()
		repeat := s.lastBad == h
		s.lastBad = h
		s.mu.Unlock()
		if !repeat {
			s.onReport(rollout.Report{Ref: rollout.Ref{Version: d.Version, SHA256: h}, Status: rollout.StatusRejected,
				Reason:    "unreadable desired message: " + err.Error(),
				Committed: s.o.Rollout.Status().Committed, Time: time.Now().UTC()})
		}
		return
	}
	s.o.Rollout.Offer(rollout.Desired{Version: d.Version, Doc: []byte(d.Config)})
}

// takeState watches this terminal's own state topic. A live offline message with an
// older epoch is a stale will that arrived after our birth (a late death of an earlier
// connection): the birth is sent again so the retained state is right. A birth from
// another process with this terminal id is reported.
func (s *Session) takeState(m mqttc.Message) {
	if m.Retained || len(m.Payload) == 0 {
		return // from before this connection's birth
	}
	st, err := DecodeState(m.Payload)
	if err != nil {
		return
	}
	epoch := s.currentEpoch()
	switch {
	case st.Status == StatusOffline && st.Epoch < epoch:
		s.log.Info("mgmt: stale offline state after our birth; announcing again", "staleEpoch", st.Epoch, "epoch", epoch)
		s.out.put(laneResults, item{msg: mqttc.Message{Topic: s.topics.State(), Payload: s.birth(epoch), QoS: 1, Retained: true}})
	case st.Status == StatusOnline && st.Boot != s.boot:
		s.log.Error("mgmt: another agent announces this terminal id", "epoch", st.Epoch, "boot", st.Boot)
		s.emit("mgmt.duplicate", false, CodeDuplicateTerminal, map[string]any{"epoch": st.Epoch, "boot": st.Boot})
	}
}

// onReport publishes a rollout report: retained on config/reported, and as an event
// when it is final.
func (s *Session) onReport(r rollout.Report) {
	r.Reason = mask.Text(r.Reason)
	for i := range r.Problems {
		r.Problems[i].Reason = mask.Text(r.Problems[i].Reason)
	}
	b, err := json.Marshal(Reported{V: ProtocolVersion, Epoch: s.currentEpoch(), Report: r})
	if err != nil {
		return
	}
	s.enqueue(laneResults, item{msg: mqttc.Message{Topic: s.topics.Reported(), Payload: b, QoS: 1, Retained: true}})
	if r.Status.Final() {
		ok := r.Status == rollout.StatusCommitted || r.Status == rollout.StatusUnchanged
		data := map[string]any{"version": r.Version, "committed": r.Committed.Version}
		if r.Reason != "" {
			data["reason"] = r.Reason
		}
		if len(r.Problems) > 0 {
			data["problems"] = len(r.Problems)
		}
		s.emit("config."+string(r.Status), ok, configCode(r.Status), data)
	}
}

// emit publishes one of the session's own events: on the bus when there is one (the
// forwarder then sends it to MQTT like any other event), directly otherwise.
func (s *Session) emit(kind string, ok bool, code prompt.Code, data map[string]any) {
	p := prompt.Lookup(code).All(prompt.ZH)
	e := event.Event{Kind: event.Kind(kind), Source: "mgmt", OK: ok, Prompts: &p, Data: data}
	if s.o.Events != nil {
		s.o.Events.Publish(e)
		return
	}
	e.Time = time.Now()
	s.sendEvent(e)
}

// forwardEvents copies bus events to the events topic.
func (s *Session) forwardEvents(ctx context.Context, sub *event.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.C():
			if n := sub.Dropped(); n > 0 {
				s.out.addDropped(laneEvents, n)
			}
			if s.forwarded(string(e.Kind)) {
				s.sendEvent(e)
			}
			s.forwardedSeq.Store(e.Seq)
		}
	}
}

func (s *Session) forwarded(kind string) bool {
	for _, p := range s.cfg.Events {
		if ok, _ := path.Match(p, kind); ok {
			return true
		}
	}
	return false
}

func (s *Session) sendEvent(e event.Event) {
	b, err := maskJSON(EventMessage{V: ProtocolVersion, Epoch: s.currentEpoch(), Boot: s.boot, Event: e})
	if err != nil {
		s.log.Warn("mgmt: event not encodable", "kind", e.Kind, "err", err)
		return
	}
	s.enqueue(laneEvents, item{msg: mqttc.Message{Topic: s.topics.Events(), Payload: b, QoS: 1}})
}

// enqueue puts an item in the outbox and logs drops at most once a minute.
func (s *Session) enqueue(l lane, it item) {
	if !s.out.put(l, it) {
		return
	}
	s.mu.Lock()
	report := time.Since(s.overflowAt) > time.Minute
	if report {
		s.overflowAt = time.Now()
	}
	s.mu.Unlock()
	if report {
		d := s.out.drops()
		s.log.Warn("mgmt: offline buffer full; oldest messages dropped", "code", CodeBufferOverflow.String(),
			"droppedEvents", d.Events, "droppedTelemetry", d.Telemetry, "droppedResults", d.Results)
	}
}

// telemetryLoop publishes telemetry every interval and right after each birth.
func (s *Session) telemetryLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.TelemetryInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.tickNow:
		}
		b, err := json.Marshal(s.telemetry(ctx))
		if err != nil {
			continue
		}
		s.enqueue(laneTelemetry, item{msg: mqttc.Message{Topic: s.topics.Telemetry(), Payload: b, QoS: 0, Retained: true}})
	}
}

// telemetry samples the terminal now.
func (s *Session) telemetry(ctx context.Context) Telemetry {
	now := time.Now()
	var d Devices
	if s.o.Source != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d = s.o.Source.Devices(sctx)
		cancel()
	}
	maskDevices(&d)
	s.mu.Lock()
	proc := s.proc.sample(now)
	s.mu.Unlock()
	return Telemetry{
		V: ProtocolVersion, Epoch: s.currentEpoch(), Seq: s.telemetrySeq.Add(1), Time: now.UTC(),
		UptimeSeconds: int64(now.Sub(s.started).Seconds()),
		Health:        HealthOf(d), Devices: d, Process: proc, Link: s.link(), Config: s.configState(),
	}
}

// Link returns the session's counters (also sent in telemetry).
func (s *Session) Link() Link { return s.link() }

// link returns the session's counters.
func (s *Session) link() Link {
	d := s.out.drops()
	d.Commands = s.inboxDropped.Load()
	s.mu.Lock()
	last := s.lastErr
	s.mu.Unlock()
	return Link{Connects: s.connects.Load(), Failures: s.failures.Load(), SessionsLost: s.sessionsLost.Load(),
		Buffered: s.out.len(), Dropped: d, LastError: last,
		Commands: CommandCounts{Taken: s.takenCmds.Load(), Duplicates: s.dupCmds.Load(), Retained: s.retainedCmds.Load()}}
}

// takeCommand checks a command request and queues it for a worker.
func (s *Session) takeCommand(ctx context.Context, id string, m mqttc.Message) {
	if m.Retained {
		// A retained command would run again on every reconnect of every terminal.
		s.retainedCmds.Add(1)
		s.log.Warn("mgmt: retained command ignored", "id", id)
		return
	}
	started := time.Now().UTC()
	fresh, err := s.seen.add(id)
	if err != nil {
		s.log.Warn("mgmt: command id not persisted", "id", id, "err", err)
	}
	if !fresh {
		s.dupCmds.Add(1)
		s.log.Info("mgmt: duplicate command ignored", "id", id)
		return
	}
	s.takenCmds.Add(1)
	req, err := DecodeRequest(m.Payload)
	switch {
	case err != nil:
		s.sendResult(id, req.Name, ResultInvalid, nil, err, started, nil)
		return
	case !req.ExpiresAt.IsZero() && started.After(req.ExpiresAt):
		s.sendResult(id, req.Name, ResultExpired, nil, fmt.Errorf("expired at %s", req.ExpiresAt.UTC().Format(time.RFC3339)), started, nil)
		return
	}
	c, ok := s.cmds[req.Name]
	if !ok {
		s.sendResult(id, req.Name, ResultUnknown, nil, fmt.Errorf("no command %q on this terminal (known: %s)", req.Name, strings.Join(s.commandNames(), ", ")), started, nil)
		return
	}
	timeout := s.cfg.CommandTimeout.D()
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout * float64(time.Second))
	}
	if !s.submit(ctx, job{id: id, req: req, cmd: c, timeout: timeout, started: started}) {
		s.sendResult(id, req.Name, ResultBusy, nil, errors.New("too many commands waiting; try again later"), started, nil)
	}
}

// submit queues a job and starts a worker when fewer than commandWorkers run; workers
// exit when the queue is empty, so an idle terminal runs none.
func (s *Session) submit(ctx context.Context, j job) bool {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if len(s.jobs) >= commandBacklog {
		return false
	}
	s.jobs = append(s.jobs, j)
	if s.workers < commandWorkers {
		s.workers++
		s.jobsWG.Go(func() { s.commandWorker(ctx) })
	}
	return true
}

// commandWorker runs queued commands until none is left.
func (s *Session) commandWorker(ctx context.Context) {
	for {
		s.jobsMu.Lock()
		if len(s.jobs) == 0 || ctx.Err() != nil {
			s.workers--
			s.jobsMu.Unlock()
			return
		}
		j := s.jobs[0]
		s.jobs = s.jobs[1:]
		s.jobsMu.Unlock()
		s.runJob(ctx, j)
	}
}

type outcome struct {
	v   any
	err error
}

func (s *Session) runJob(ctx context.Context, j job) {
	jctx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	done := make(chan outcome, 1)
	go func() { // owned by runJob, which waits for it below
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{err: fmt.Errorf("command panicked: %v", r)}
			}
		}()
		v, err := j.cmd.Run(jctx, j.req.Args)
		done <- outcome{v, err}
	}()
	select {
	case o := <-done:
		status := ResultOK
		if o.err != nil {
			status = ResultError
		}
		var after func()
		if a, ok := o.v.(afterResult); ok {
			o.v, after = a.value, a.action
		}
		s.sendResult(j.id, j.req.Name, status, o.v, o.err, j.started, after)
	case <-jctx.Done():
		err := fmt.Errorf("did not finish within %s", j.timeout)
		if ctx.Err() != nil {
			err = errors.New("the agent is stopping")
		}
		s.sendResult(j.id, j.req.Name, ResultTimeout, nil, err, j.started, nil)
		<-done
	}
}

// sendResult queues a command result; after, when set, runs once the result is
// delivered, or after afterResultWait if it cannot be.
func (s *Session) sendResult(id, name, status string, v any, err error, started time.Time, after func()) {
	r := Result{V: ProtocolVersion, ID: id, Name: name, Status: status, Epoch: s.currentEpoch(),
		StartedAt: started, FinishedAt: time.Now().UTC()}
	if v != nil {
		b, merr := maskJSON(v)
		if merr != nil {
			r.Status, err = ResultError, fmt.Errorf("result not encodable: %w", merr)
		} else {
			r.Result = b
		}
	}
	if err != nil {
		r.Error = mask.Text(err.Error())
		r.Code = fmt.Sprintf("%06d", int(CodeCommandFailed))
		if status == ResultTimeout {
			r.Code = fmt.Sprintf("%06d", int(CodeCommandTimeout))
		}
	}
	b, merr := json.Marshal(r)
	if merr != nil {
		return
	}
	it := item{msg: mqttc.Message{Topic: s.topics.Result(id), Payload: b, QoS: 1}}
	if after != nil {
		var once sync.Once
		run := func() { once.Do(after) }
		t := time.AfterFunc(afterResultWait, run)
		it.done = func(bool) { t.Stop(); run() }
	}
	lvl := slog.LevelInfo
	if status != ResultOK {
		lvl = slog.LevelWarn
	}
	s.log.Log(context.Background(), lvl, "mgmt: command", "id", id, "name", name, "status", status, "err", r.Error)
	s.enqueue(laneResults, it)
}

// maskJSON encodes v and masks every string in it (mask.Text: ID numbers, bank cards,
// phones in free text). Numbers and keys are left alone.
func maskJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var tree any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	return json.Marshal(maskTree(tree))
}

func maskTree(v any) any {
	switch t := v.(type) {
	case string:
		return mask.Text(t)
	case map[string]any:
		for k, x := range t {
			t[k] = maskTree(x)
		}
	case []any:
		for i, x := range t {
			t[i] = maskTree(x)
		}
	}
	return v
}

// Package fleet is the terminal manager's side of the terminal-management protocol
// (docs/mgmt-protocol.md): it lists terminals with their presence and health from the
// retained state, telemetry and configuration reports, pushes a configuration document
// to one terminal or a group and waits for each outcome, and runs commands. The
// "sscagent fleet" command is a thin layer over it.
//
// Reading the retained messages of a whole fleet relies on one property of MQTT: a
// broker delivers the retained messages of a subscription before any message published
// after the subscription was acknowledged, on the same connection. After subscribing,
// the client publishes a marker to its own topic and knows it has everything once the
// marker comes back. All fleet subscriptions use QoS 0: brokers bound the QoS 1 messages
// queued for one client (mosquitto: max_queued_messages 1000), which a fleet's retained
// messages exceed, while QoS 0 messages to a connected client are not dropped that way.
package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// Options configure a fleet client. Zero values take the defaults noted.
type Options struct {
	// Broker is the broker URL (tcp://host:1883, tls://host:8883); required.
	Broker string
	// Username and PasswordFile authenticate (the password file is read once).
	Username     string
	PasswordFile config.SecretFile
	// CAFile, CertFile, KeyFile and ServerName set up TLS for tls:// brokers.
	CAFile     string
	CertFile   string
	KeyFile    config.SecretFile
	ServerName string
	// Prefix roots the topic tree. Default mgmt.DefaultPrefix.
	Prefix string
	// ClientID default "sscfleet-" + random.
	ClientID string
	// ConnectTimeout default 10s.
	ConnectTimeout time.Duration
	// StaleAfter: telemetry older than this marks a terminal stale. Default 3m (three
	// default telemetry intervals and some).
	StaleAfter time.Duration
}

// Client is a connection to the broker for fleet operations. Its methods may be called
// one at a time.
type Client struct {
	o    Options
	conn *mqttc.Conn

	mu       sync.Mutex // guards handlers
	handlers []*watch
}

// watch receives the messages matching any of its filters, in order, without bound:
// the connection's callback must never block, and a fleet's retained messages must
// never be lost to a full buffer.
type watch struct {
	filters []string
	exact   map[string]bool // filters without wildcards
	wild    []string        // filters with wildcards
	marker  string
	signal  chan struct{}

	mu sync.Mutex // guards q
	q  []mqttc.Message
}

func (w *watch) push(m mqttc.Message) {
	w.mu.Lock()
	w.q = append(w.q, m)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// next returns the next message, or ctx's error.
func (w *watch) next(ctx context.Context) (mqttc.Message, error) {
	for {
		w.mu.Lock()
		if len(w.q) > 0 {
			m := w.q[0]
			w.q[0] = mqttc.Message{}
			w.q = w.q[1:]
			w.mu.Unlock()
			return m, nil
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return mqttc.Message{}, ctx.Err()
		case <-w.signal:
		}
	}
}

// Dial connects to the broker.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Broker == "" {
		return nil, errors.New("fleet: no broker")
	}
	if err := mqttc.CheckURL(o.Broker); err != nil {
		return nil, fmt.Errorf("fleet: broker %q: %w", o.Broker, err)
	}
	if o.Prefix == "" {
		o.Prefix = mgmt.DefaultPrefix
	}
	if err := mgmt.CheckPrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("fleet: prefix: %w", err)
	}
	if o.ClientID == "" {
		var b [6]byte
		_, _ = crand.Read(b[:])
		o.ClientID = "sscfleet-" + hex.EncodeToString(b[:])
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3 * time.Minute
	}
	c := &Client{o: o}
	mo := mqttc.Options{Brokers: []string{o.Broker}, ClientID: o.ClientID, Username: o.Username,
		CleanSession: true, ConnectTimeout: o.ConnectTimeout, OnMessage: c.dispatch}
	if o.PasswordFile != "" {
		pw, err := o.PasswordFile.Read()
		if err != nil {
			return nil, fmt.Errorf("fleet: password: %w", err)
		}
		mo.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if strings.HasPrefix(o.Broker, "tls:") || strings.HasPrefix(o.Broker, "ssl:") || strings.HasPrefix(o.Broker, "mqtts:") {
		t, err := (mqttc.TLSFiles{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile, ServerName: o.ServerName}).Config()
		if err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		mo.TLS = t
	}
	dctx, cancel := context.WithTimeout(ctx, 2*o.ConnectTimeout)
	defer cancel()
	conn, err := mqttc.Dial(dctx, mo)
	if err != nil {
		return nil, fmt.Errorf("fleet: connect %s: %w", o.Broker, err)
	}
	c.conn = conn
	return c, nil
}

// Close disconnects.
func (c *Client) Close() { c.conn.Close(250 * time.Millisecond) }

// dispatch is the connection's message callback; it never blocks.
func (c *Client) dispatch(m mqttc.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.handlers {
		if w.exact[m.Topic] || slices.ContainsFunc(w.wild, func(f string) bool { return match(f, m.Topic) }) {
			w.push(m)
		}
	}
}

// match reports whether an MQTT topic filter matches topic.
func match(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) || f != "+" && f != ts[i] {
			return false
		}
	}
	return len(fs) == len(ts)
}

// subscribe starts a watch on filters (QoS 0) and returns it with a function that
// ends it (and the subscriptions no other watch uses). When sync is true it returns
// only after every retained message of the filters has been queued on the watch.
func (c *Client) subscribe(ctx context.Context, filters []string, sync bool) (*watch, func(), error) {
	marker := c.o.Prefix + "/_fleet/" + c.o.ClientID + "/" + randomID()
	w := &watch{filters: append(slices.Clone(filters), marker), exact: map[string]bool{}, marker: marker, signal: make(chan struct{}, 1)}
	for _, f := range w.filters {
		if strings.ContainsAny(f, "+#") {
			w.wild = append(w.wild, f)
		} else {
			w.exact[f] = true
		}
	}
	c.mu.Lock()
	c.handlers = append(c.handlers, w)
	c.mu.Unlock()
	stop := func() {
		c.mu.Lock()
		c.handlers = slices.DeleteFunc(c.handlers, func(x *watch) bool { return x == w })
		var unused []string
		for _, f := range w.filters {
			if !slices.ContainsFunc(c.handlers, func(x *watch) bool { return slices.Contains(x.filters, f) }) {
				unused = append(unused, f)
			}
		}
		c.mu.Unlock()
		// Without this the broker would keep sending (a whole fleet's telemetry).
		uctx, cancel := context.WithTimeout(context.Background(), c.o.ConnectTimeout)
		defer cancel()
		_ = c.conn.Unsubscribe(uctx, unused...)
	}
	fm := make(map[string]byte, len(w.filters))
	for _, f := range w.filters {
		fm[f] = 0
	}
	if err := c.conn.Subscribe(ctx, fm); err != nil {
		stop()
		return nil, nil, err
	}
	if !sync {
		return w, stop, nil
	}
	if err := c.conn.Publish(ctx, mqttc.Message{Topic: marker, Payload: []byte("sync")}); err != nil {
		stop()
		return nil, nil, err
	}
	return w, stop, nil
}

// isMarker reports whether m is the watch's sync marker.
func (w *watch) isMarker(m mqttc.Message) bool { return m.Topic == w.marker }

func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Presence of a terminal.
const (
	Online  = "online"
	Offline = "offline"
	Unknown = "unknown" // telemetry or reports but no state message
)

// Terminal is one terminal as the fleet sees it.
type Terminal struct {
	ID string `json:"id"`
	// Presence is online, offline or unknown, epoch-aware: an offline state whose epoch
	// is older than the terminal's latest telemetry is a stale death (StaleDeath) and
	// the terminal counts as online while that telemetry is recent.
	Presence   string `json:"presence"`
	Epoch      uint64 `json:"epoch"`
	StaleDeath bool   `json:"staleDeath,omitempty"`
	// Health is the terminal's own summary (ok, degraded) or "unknown"; Stale is set
	// when its telemetry is older than Options.StaleAfter.
	Health       string          `json:"health"`
	Problems     []string        `json:"problems,omitempty"`
	Stale        bool            `json:"stale,omitempty"`
	TelemetryAge float64         `json:"telemetryAgeSeconds,omitempty"`
	State        *mgmt.State     `json:"state,omitempty"`
	Telemetry    *mgmt.Telemetry `json:"telemetry,omitempty"`
	Reported     *mgmt.Reported  `json:"reported,omitempty"`
}

// List returns every terminal that has a retained state, telemetry or configuration
// report under the prefix, sorted by id; match, when not nil, selects ids.
func (c *Client) List(ctx context.Context, match func(id string) bool) ([]Terminal, error) {
	p := c.o.Prefix
	w, stop, err := c.subscribe(ctx, []string{mgmt.Fleet(p, mgmt.KindState), mgmt.Fleet(p, mgmt.KindTelemetry), mgmt.Fleet(p, mgmt.KindReported)}, true)
	if err != nil {
		return nil, fmt.Errorf("fleet list: %w", err)
	}
	defer stop()
	byID := map[string]*Terminal{}
	get := func(id string) *Terminal {
		t := byID[id]
		if t == nil {
			t = &Terminal{ID: id}
			byID[id] = t
		}
		return t
	}
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet list: %w", err)
		}
		if w.isMarker(m) {
			return c.finish(byID), nil
		}
		pt, ok := mgmt.ParseTopic(p, m.Topic)
		if !ok || len(m.Payload) == 0 || match != nil && !match(pt.Terminal) {
			continue
		}
		absorb(get(pt.Terminal), pt.Kind, m.Payload)
	}
}

// absorb decodes one retained message into t; unreadable messages are skipped.
func absorb(t *Terminal, kind string, payload []byte) {
	switch kind {
	case mgmt.KindState:
		if s, err := mgmt.DecodeState(payload); err == nil {
			t.State = &s
		}
	case mgmt.KindTelemetry:
		var tm mgmt.Telemetry
		if json.Unmarshal(payload, &tm) == nil && tm.V == mgmt.ProtocolVersion {
			t.Telemetry = &tm
		}
	case mgmt.KindReported:
		var r mgmt.Reported
		if json.Unmarshal(payload, &r) == nil && r.V == mgmt.ProtocolVersion {
			t.Reported = &r
		}
	}
}

func (c *Client) finish(byID map[string]*Terminal) []Terminal {
	out := make([]Terminal, 0, len(byID))
	now := time.Now()
	for _, t := range byID {
		c.judge(t, now)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// judge derives presence and health from the retained messages.
func (c *Client) judge(t *Terminal, now time.Time) {
	t.Presence, t.Health = Unknown, "unknown"
	if tm := t.Telemetry; tm != nil {
		age := now.Sub(tm.Time)
		t.TelemetryAge = age.Round(time.Second).Seconds()
		t.Stale = age > c.o.StaleAfter
		t.Health, t.Problems = tm.Health.Status, tm.Health.Problems
	}
	if s := t.State; s != nil {
		t.Presence, t.Epoch = s.Status, s.Epoch
		if s.Status == mgmt.StatusOffline && t.Telemetry != nil && t.Telemetry.Epoch > s.Epoch {
			// A death from an older session than the latest telemetry: stale.
			t.StaleDeath = true
			t.Epoch = t.Telemetry.Epoch
			if !t.Stale {
				t.Presence = Online
			}
		}
	}
}

// Show returns one terminal and its retained desired configuration (nil when none).
func (c *Client) Show(ctx context.Context, id string) (*Terminal, *mgmt.Desired, error) {
	if err := mgmt.CheckTerminalID(id); err != nil {
		return nil, nil, err
	}
	tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
	w, stop, err := c.subscribe(ctx, []string{tp.State(), tp.Telemetry(), tp.Reported(), tp.Desired()}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet show: %w", err)
	}
	defer stop()
	t := &Terminal{ID: id}
	var desired *mgmt.Desired
	seen := false
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("fleet show: %w", err)
		}
		if w.isMarker(m) {
			if !seen {
				return nil, nil, fmt.Errorf("fleet show: terminal %s has never reported under %s", id, c.o.Prefix)
			}
			c.judge(t, time.Now())
			return t, desired, nil
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		if !ok || len(m.Payload) == 0 {
			continue
		}
		if pt.Kind == mgmt.KindDesired {
			if d, err := mgmt.DecodeDesired(m.Payload); err == nil {
				desired = &d
			}
			continue
		}
		seen = true
		absorb(t, pt.Kind, m.Payload)
	}
}

// Resolve expands targets (terminal ids or glob patterns such as "KIOSK-35*") against
// the terminals known to the broker. A plain id is kept even when unknown (its desired
// configuration waits retained until it connects); a pattern that matches nothing is
// an error.
func (c *Client) Resolve(ctx context.Context, targets []string) ([]string, error) {
	var ids []string
	var patterns []string
	for _, t := range targets {
		if strings.ContainsAny(t, "*?[") {
			if _, err := path.Match(t, ""); err != nil {
				return nil, fmt.Errorf("bad pattern %q", t)
			}
			patterns = append(patterns, t)
			continue
		}
		if err := mgmt.CheckTerminalID(t); err != nil {
			return nil, fmt.Errorf("%q: %w", t, err)
		}
		ids = append(ids, t)
	}
	if len(patterns) > 0 {
		all, err := c.List(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, p := range patterns {
			n := 0
			for _, t := range all {
				if ok, _ := path.Match(p, t.ID); ok {
					ids = append(ids, t.ID)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("pattern %q matches no terminal", p)
			}
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

// PushOptions tune PushConfig.
type PushOptions struct {
	// Version of the document; 0 picks, per terminal, one more than the highest
	// version it has seen (retained desired and reported).
	Version uint64
	// Timeout bounds the wait for every outcome. Default 3m (the default health gate
	// is 2m).
	Timeout time.Duration
	// IssuedBy names the manager in the document; default user@host.
	IssuedBy string
	// Progress, when set, receives every report as it arrives.
	Progress func(id string, r mgmt.Reported)
}

// PushResult is the outcome of a push to one terminal.
type PushResult struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	// Status is the terminal's final status (committed, unchanged, rejected,
	// rolled-back, rollback-failed, stale), "offline" (the document waits retained),
	// or "timeout".
	Status   string            `json:"status"`
	Reason   string            `json:"reason,omitempty"`
	Problems []rollout.Problem `json:"problems,omitempty"`
}

// OK reports whether the terminal runs the pushed configuration.
func (r PushResult) OK() bool {
	return r.Status == string(rollout.StatusCommitted) || r.Status == string(rollout.StatusUnchanged)
}

// Push result statuses besides the rollout's.
const (
	StatusOffline = "offline"
	StatusTimeout = "timeout"
)

// PushConfig publishes doc (a configuration overlay, YAML) as the desired configuration
// of each terminal in ids and waits for their outcomes. Terminals known to be offline
// are not waited for: the retained document is applied when they connect.
func (c *Client) PushConfig(ctx context.Context, ids []string, doc []byte, o PushOptions) ([]PushResult, error) {
	if len(doc) > rollout.MaxDocSize {
		return nil, fmt.Errorf("document is %d bytes, more than %d", len(doc), rollout.MaxDocSize)
	}
	if ps := rollout.Screen(doc, rollout.DefaultImmutable); len(ps) > 0 {
		return []PushResult{{Status: string(rollout.StatusRejected), Reason: "refused before sending", Problems: ps}}, errors.New("the document was refused before sending")
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.IssuedBy == "" {
		o.IssuedBy = whoami()
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var filters []string
	for _, id := range ids {
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		filters = append(filters, tp.State(), tp.Desired(), tp.Reported())
	}
	w, stop, err := c.subscribe(ctx, filters, true)
	if err != nil {
		return nil, fmt.Errorf("fleet push: %w", err)
	}
	defer stop()

	// Read what is retained: presence and the versions each terminal has seen.
	seen := map[string]uint64{}
	presence := map[string]string{}
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet push: %w", err)
		}
		if w.isMarker(m) {
			break
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		if !ok || len(m.Payload) == 0 {
			continue
		}
		switch pt.Kind {
		case mgmt.KindState:
			if s, err := mgmt.DecodeState(m.Payload); err == nil {
				presence[pt.Terminal] = s.Status
			}
		case mgmt.KindDesired:
			var d mgmt.Desired
			if json.Unmarshal(m.Payload, &d) == nil {
				seen[pt.Terminal] = max(seen[pt.Terminal], d.Version)
			}
		case mgmt.KindReported:
			var r mgmt.Reported
			if json.Unmarshal(m.Payload, &r) == nil {
				seen[pt.Terminal] = max(seen[pt.Terminal], r.Version, r.Committed.Version)
			}
		}
	}

	results := make(map[string]*PushResult, len(ids))
	waiting := 0
	now := time.Now().UTC()
	pending := make([]*mqttc.Pending, len(ids))
	for i, id := range ids {
		v := o.Version
		if v == 0 {
			v = seen[id] + 1
		}
		d := mgmt.Desired{V: mgmt.ProtocolVersion, Version: v, Config: string(doc), SHA256: rollout.Hash(doc), IssuedAt: now, IssuedBy: o.IssuedBy}
		b, _ := json.Marshal(d)
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		pending[i] = c.conn.PublishAsync(mqttc.Message{Topic: tp.Desired(), Payload: b, QoS: 1, Retained: true})
		r := &PushResult{ID: id, Version: v, Status: StatusTimeout}
		if presence[id] != mgmt.StatusOnline {
			r.Status, r.Reason = StatusOffline, "terminal offline; the retained document is applied when it connects"
		} else {
			waiting++
		}
		results[id] = r
	}
	for i, p := range pending {
		if err := p.Wait(ctx); err != nil {
			return nil, fmt.Errorf("fleet push %s: %w", ids[i], err)
		}
	}
	for waiting > 0 {
		m, err := w.next(ctx)
		if err != nil {
			break // the rest stay "timeout"
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		if !ok || pt.Kind != mgmt.KindReported || m.Retained {
			continue
		}
		r := results[pt.Terminal]
		var rep mgmt.Reported
		if r == nil || json.Unmarshal(m.Payload, &rep) != nil || rep.Version != r.Version {
			continue
		}
		if o.Progress != nil {
			o.Progress(pt.Terminal, rep)
		}
		if rep.Status.Final() && r.Status == StatusTimeout {
			r.Status, r.Reason, r.Problems = string(rep.Status), rep.Reason, rep.Problems
			waiting--
		}
	}
	out := make([]PushResult, 0, len(ids))
	for _, id := range ids {
		out = append(out, *results[id])
	}
	return out, nil
}

// CommandResult is the outcome of a command on one terminal.
type CommandResult struct {
	ID        string `json:"id"`
	CommandID string `json:"commandId"`
	// Status is the terminal's result status (ok, error, unknown, invalid, timeout,
	// expired, busy), or "offline" (not sent) or "no-answer".
	Status string       `json:"status"`
	Result *mgmt.Result `json:"result,omitempty"`
}

// Command result statuses besides the terminal's.
const StatusNoAnswer = "no-answer"

// Command runs command name with args (JSON, may be nil) on each terminal in ids and
// waits up to timeout for the results. Terminals known to be offline are skipped: a
// command is only worth running now.
func (c *Client) Command(ctx context.Context, ids []string, name string, args json.RawMessage, timeout time.Duration) ([]CommandResult, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if timeout > mgmt.MaxCommandTimeout {
		return nil, fmt.Errorf("timeout must be at most %s", mgmt.MaxCommandTimeout)
	}
	if len(args) > 0 && !json.Valid(args) {
		return nil, errors.New("args must be JSON")
	}
	// The terminal needs time to answer after its limit, and the result to travel.
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	cmdID := fmt.Sprintf("c%d-%s", time.Now().Unix(), randomID()[:8])
	var filters []string
	for _, id := range ids {
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		filters = append(filters, tp.State(), tp.Result(cmdID))
	}
	w, stop, err := c.subscribe(ctx, filters, true)
	if err != nil {
		return nil, fmt.Errorf("fleet cmd: %w", err)
	}
	defer stop()
	presence := map[string]string{}
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet cmd: %w", err)
		}
		if w.isMarker(m) {
			break
		}
		if pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic); ok && pt.Kind == mgmt.KindState {
			if s, err := mgmt.DecodeState(m.Payload); err == nil {
				presence[pt.Terminal] = s.Status
			}
		}
	}
	req, _ := json.Marshal(mgmt.Request{V: mgmt.ProtocolVersion, Name: name, Args: args,
		Timeout: timeout.Seconds(), ExpiresAt: time.Now().Add(timeout).UTC()})
	results := map[string]*CommandResult{}
	waiting := 0
	var pending []*mqttc.Pending
	for _, id := range ids {
		r := &CommandResult{ID: id, CommandID: cmdID, Status: StatusNoAnswer}
		results[id] = r
		if presence[id] != mgmt.StatusOnline {
			r.Status = StatusOffline
			continue
		}
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		pending = append(pending, c.conn.PublishAsync(mqttc.Message{Topic: tp.Command(cmdID), Payload: req, QoS: 1}))
		waiting++
	}
	for _, p := range pending {
		if err := p.Wait(ctx); err != nil {
			return nil, fmt.Errorf("fleet cmd: %w", err)
		}
	}
	for waiting > 0 {
		m, err := w.next(ctx)
		if err != nil {
			break // the rest stay "no-answer"
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		if !ok || pt.Kind != mgmt.KindResult || pt.ID != cmdID {
			continue
		}
		r := results[pt.Terminal]
		var res mgmt.Result
		if r == nil || r.Result != nil || json.Unmarshal(m.Payload, &res) != nil {
			continue
		}
		r.Result, r.Status = &res, res.Status
		waiting--
	}
	out := make([]CommandResult, 0, len(ids))
	for _, id := range ids {
		out = append(out, *results[id])
	}
	return out, nil
}

// whoami names the manager for IssuedBy: user@host.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

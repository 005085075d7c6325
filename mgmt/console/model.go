package console

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

// Bounds of what the model keeps per terminal.
const (
	historyLen  = 120 // telemetry samples: an hour at the default 30 s
	eventsLen   = 50
	commandsLen = 20
)

// Sample is one telemetry sample of a terminal's history.
type Sample struct {
	Time       time.Time `json:"t"`
	CPUPercent float64   `json:"cpu"`
	RSSBytes   uint64    `json:"rss"`
	Queue      int       `json:"queue"`
	Buffered   int       `json:"buffered"`
}

// Event is one event a terminal sent, masked again on arrival.
type Event struct {
	Time   time.Time      `json:"time"`
	Kind   string         `json:"kind"`
	Scene  string         `json:"scene,omitempty"`
	Source string         `json:"source,omitempty"`
	OK     bool           `json:"ok"`
	Code   string         `json:"code,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
	Epoch  uint64         `json:"epoch"`
}

// Command is a command sent to a terminal and its result: from this console (By set),
// or any manager's result seen on the broker.
type Command struct {
	ID     string          `json:"id,omitempty"`
	Name   string          `json:"name"`
	By     string          `json:"by,omitempty"`
	Sent   time.Time       `json:"sent,omitzero"`
	Status string          `json:"status"` // "running" until a result or the fleet's verdict
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Done   time.Time       `json:"done,omitzero"`
}

// DesiredRef is the retained desired document without its content.
type DesiredRef struct {
	Version  uint64    `json:"version"`
	SHA256   string    `json:"sha256,omitempty"`
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	IssuedBy string    `json:"issuedBy,omitempty"`
}

// entry is one terminal of the model.
type entry struct {
	t        fleet.Terminal
	desired  *DesiredRef
	lastSeen time.Time
	history  []Sample // ring, oldest at hpos once full
	hpos     int
	events   []Event // newest last
	commands []Command
	lastTel  uint64 // epoch<<32|seq of the last sample taken, to skip duplicates
}

// Model is the console's live view of the fleet, fed by fleet.Client.Follow. It is safe
// for concurrent use; Changed signals every change.
type Model struct {
	staleAfter time.Duration

	mu      sync.RWMutex // guards the fields below
	byID    map[string]*entry
	changed chan struct{} // closed at the next change
	synced  bool
	gen     uint64
}

// NewModel returns an empty model judging telemetry older than staleAfter stale.
func NewModel(staleAfter time.Duration) *Model {
	return &Model{staleAfter: staleAfter, byID: map[string]*entry{}, changed: make(chan struct{})}
}

// Changed returns a channel closed at the next change of the model.
func (m *Model) Changed() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

// touchLocked records a change; m.mu must be held for writing.
func (m *Model) touchLocked() {
	m.gen++
	close(m.changed)
	m.changed = make(chan struct{})
}

// Touch signals a change that is not in the model (a rollout's progress).
func (m *Model) Touch() {
	m.mu.Lock()
	m.touchLocked()
	m.mu.Unlock()
}

// Synced marks the retained messages as read.
func (m *Model) Synced() {
	m.mu.Lock()
	m.synced = true
	m.touchLocked()
	m.mu.Unlock()
}

func (m *Model) getLocked(id string) *entry {
	e := m.byID[id]
	if e == nil {
		e = &entry{t: fleet.Terminal{ID: id}}
		m.byID[id] = e
	}
	return e
}

// Apply takes one message from the broker. Unreadable messages change nothing.
func (m *Model) Apply(u fleet.Update) {
	if mgmt.CheckTerminalID(u.Terminal) != nil {
		return
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.byID[u.Terminal]
	if e == nil && len(u.Payload) == 0 {
		return
	}
	var when time.Time // the message's own time, for retained messages
	switch u.Kind {
	case mgmt.KindState, mgmt.KindTelemetry, mgmt.KindReported:
		if e == nil {
			e = &entry{t: fleet.Terminal{ID: u.Terminal}}
			if !e.t.Absorb(u.Kind, u.Payload) {
				return
			}
			m.byID[u.Terminal] = e
		} else if !e.t.Absorb(u.Kind, u.Payload) {
			return
		}
		switch u.Kind {
		case mgmt.KindState:
			when = e.t.State.Time
		case mgmt.KindTelemetry:
			when = e.t.Telemetry.Time
			e.sample(*e.t.Telemetry)
		case mgmt.KindReported:
			when = e.t.Reported.Time
		}
	case mgmt.KindDesired:
		if len(u.Payload) == 0 {
			e.desired = nil
			m.touchLocked()
			return
		}
		d, err := mgmt.ReadDesired(u.Payload)
		if err != nil {
			return
		}
		e = m.getLocked(u.Terminal)
		e.desired = &DesiredRef{Version: d.Version, SHA256: d.SHA256, IssuedAt: d.IssuedAt, IssuedBy: d.IssuedBy}
		m.touchLocked()
		return // a manager's message: not a sign of life
	case mgmt.KindEvents:
		var em mgmt.EventMessage
		if json.Unmarshal(u.Payload, &em) != nil || em.V != mgmt.ProtocolVersion {
			return
		}
		e = m.getLocked(u.Terminal)
		ev := Event{Time: em.Time, Kind: string(em.Kind), Scene: mask.Text(em.Scene), Source: mask.Text(em.Source), OK: em.OK, Epoch: em.Epoch}
		if em.Prompts != nil {
			ev.Code = em.Prompts.Code
		}
		if em.Data != nil {
			ev.Data, _ = maskAny(em.Data).(map[string]any)
		}
		e.events = append(e.events, ev)
		if len(e.events) > eventsLen {
			e.events = slices.Delete(e.events, 0, len(e.events)-eventsLen)
		}
		when = em.Time
	case mgmt.KindResult:
		var r mgmt.Result
		if json.Unmarshal(u.Payload, &r) != nil || r.V != mgmt.ProtocolVersion {
			return
		}
		e = m.getLocked(u.Terminal)
		e.result(u.CommandID, Command{ID: u.CommandID, Name: r.Name, Status: r.Status, Error: mask.Text(r.Error),
			Result: maskRaw(r.Result), Done: r.FinishedAt})
		when = r.FinishedAt
	default:
		return
	}
	if !u.Retained {
		when = now
	}
	if when.After(e.lastSeen) {
		e.lastSeen = when
	}
	m.touchLocked()
}

// sample appends a telemetry sample to the history, once per (epoch, seq).
func (e *entry) sample(tm mgmt.Telemetry) {
	key := tm.Epoch<<32 | tm.Seq&0xffffffff
	if key == e.lastTel && e.history != nil {
		return
	}
	e.lastTel = key
	s := Sample{Time: tm.Time, CPUPercent: tm.Process.CPUPercent, RSSBytes: tm.Process.RSSBytes, Buffered: tm.Link.Buffered}
	if tm.Queue != nil {
		s.Queue = tm.Queue.Depth
	}
	if len(e.history) < historyLen {
		e.history = append(e.history, s)
		return
	}
	e.history[e.hpos] = s
	e.hpos = (e.hpos + 1) % historyLen
}

// result records a command's result under its id, keeping who sent it.
func (e *entry) result(id string, c Command) {
	for i := range e.commands {
		if e.commands[i].ID == id && id != "" {
			old := e.commands[i]
			if c.Name == "" {
				c.Name = old.Name
			}
			c.By, c.Sent = old.By, old.Sent
			if c.Result == nil && old.Result != nil { // the fleet's verdict after the terminal's result
				c.Status, c.Error, c.Result, c.Done = old.Status, old.Error, old.Result, old.Done
			}
			e.commands[i] = c
			return
		}
	}
	e.commands = append(e.commands, c)
	if len(e.commands) > commandsLen {
		e.commands = slices.Delete(e.commands, 0, len(e.commands)-commandsLen)
	}
}

// startCommand records a command this console is sending and returns the time it
// was sent, the entry's key until finishCommand.
func (m *Model) startCommand(id, name, by string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.getLocked(id)
	sent := time.Now()
	e.commands = append(e.commands, Command{Name: name, By: by, Sent: sent, Status: "running"})
	if len(e.commands) > commandsLen {
		e.commands = slices.Delete(e.commands, 0, len(e.commands)-commandsLen)
	}
	m.touchLocked()
	return sent
}

// finishCommand records the fleet's outcome of a command this console sent: the
// running entry becomes the one with the command id.
func (m *Model) finishCommand(id, name, by string, sent time.Time, r fleet.CommandResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.getLocked(id)
	e.commands = slices.DeleteFunc(e.commands, func(c Command) bool { return c.ID == "" && c.By == by && c.Sent.Equal(sent) })
	c := Command{ID: r.CommandID, Name: name, By: by, Sent: sent, Status: r.Status, Done: time.Now()}
	if r.Result != nil {
		c.Error, c.Result, c.Done = mask.Text(r.Result.Error), maskRaw(r.Result.Result), r.Result.FinishedAt
	}
	// The entry of the same id seen on the broker, if any, takes who sent it.
	for i := range e.commands {
		if e.commands[i].ID == c.ID {
			e.commands[i].By, e.commands[i].Sent = by, sent
			if e.commands[i].Result == nil {
				e.commands[i].Status = c.Status
			}
			m.touchLocked()
			return
		}
	}
	e.commands = append(e.commands, c)
	m.touchLocked()
}

// maskRaw passes every string of a JSON value through mask.Text; the terminal masked
// them already (docs/mgmt-protocol.md §2), this is the console's own guard.
func maskRaw(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	out, err := json.Marshal(maskAny(v))
	if err != nil {
		return nil
	}
	return out
}

func maskAny(v any) any {
	switch x := v.(type) {
	case string:
		return mask.Text(x)
	case map[string]any:
		for k, e := range x {
			x[k] = maskAny(e)
		}
	case []any:
		for i, e := range x {
			x[i] = maskAny(e)
		}
	}
	return v
}

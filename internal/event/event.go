// Package event carries what happens on the terminal to whoever watches: the kiosk
// application (local API stream), terminal management (MQTT events) and the log. Every
// step of the pipeline publishes one Event with an 8.4 prompt for each audience.
//
// Events hold only masked data: personal data goes in through mask.Value or an already
// masked string, e-card codes never. Publishing never blocks the pipeline: a subscriber
// that falls behind loses the oldest events it has not read and is told how many.
package event

import (
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
)

// Kind names what happened. Kinds are dotted: "card.inserted", "payment.succeeded".
type Kind string

// Event is one thing that happened.
type Event struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Kind    Kind            `json:"kind"`
	Scene   string          `json:"scene,omitempty"`
	Source  string          `json:"source,omitempty"` // reader or scanner name, "localapi"
	OK      bool            `json:"ok"`
	Prompts *prompt.Prompts `json:"prompts,omitempty"`
	// Data is kind-specific detail, already masked.
	Data map[string]any `json:"data,omitempty"`
}

// Bus fans events out to subscribers and keeps the most recent ones so that a new
// subscriber (a kiosk page that reconnects) can catch up.
type Bus struct {
	mu     sync.Mutex // guards the fields below
	seq    uint64
	recent []Event // ring of the last cap(recent) events, oldest first once full
	next   int
	subs   map[*Subscription]struct{}
	now    func() time.Time
}

// NewBus returns a bus that remembers the last keep events (default 256 when <= 0).
func NewBus(keep int) *Bus {
	if keep <= 0 {
		keep = 256
	}
	return &Bus{recent: make([]Event, 0, keep), subs: map[*Subscription]struct{}{}, now: time.Now}
}

// Publish stamps e with the next sequence number and the time (when unset) and delivers
// it to every subscriber without blocking. It returns the stamped event.
func (b *Bus) Publish(e Event) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	if len(b.recent) < cap(b.recent) {
		b.recent = append(b.recent, e)
	} else {
		b.recent[b.next] = e
		b.next = (b.next + 1) % cap(b.recent)
	}
	for s := range b.subs {
		s.deliver(e)
	}
	return e
}

// Since returns the remembered events with a sequence number greater than seq, oldest first.
func (b *Bus) Since(seq uint64) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sinceLocked(seq)
}

func (b *Bus) sinceLocked(seq uint64) []Event {
	var out []Event
	n := len(b.recent)
	for i := 0; i < n; i++ {
		e := b.recent[(b.next+i)%n]
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// Subscribe returns a subscription that receives every event published from now on,
// preceded by the remembered events after seq when replay is true. buffer bounds the
// events held for a slow reader (default 64).
func (b *Bus) Subscribe(buffer int, replay bool, seq uint64) *Subscription {
	if buffer <= 0 {
		buffer = 64
	}
	s := &Subscription{bus: b, c: make(chan Event, buffer), wake: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if replay {
		for _, e := range b.sinceLocked(seq) {
			s.deliver(e)
		}
	}
	b.subs[s] = struct{}{}
	return s
}

// Subscription receives events from a Bus.
type Subscription struct {
	bus  *Bus
	c    chan Event
	wake chan struct{}

	mu      sync.Mutex // guards dropped
	dropped uint64
}

// C delivers the events.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped returns and resets the count of events lost because the reader was slow.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dropped
	s.dropped = 0
	return d
}

// deliver is called with the bus lock held; it drops the oldest buffered event when full.
func (s *Subscription) deliver(e Event) {
	for {
		select {
		case s.c <- e:
			return
		default:
		}
		select {
		case <-s.c:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		default:
		}
	}
}

// Close stops delivery. The channel is not closed, so a reader selecting on it with a
// context simply stops reading.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
}

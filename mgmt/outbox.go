package mgmt

import (
	"sync"
	"time"

	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// lane is a class of outgoing message with its own bound; lanes are sent in priority
// order: results (command results, configuration reports), then events, then telemetry.
type lane int

const (
	laneResults lane = iota
	laneEvents
	laneTelemetry
	numLanes
)

// item is one outgoing message.
type item struct {
	msg mqttc.Message
	// done, when set, is called once: with true after the broker acknowledged the
	// message, with false when it was dropped.
	done func(sent bool)
}

func (it item) finish(sent bool) {
	if it.done != nil {
		it.done(sent)
	}
}

// outbox holds outgoing messages while the session is offline or busy. Each lane keeps
// at most its bound; when full the oldest message is dropped and counted, never silently.
type outbox struct {
	notify chan struct{} // signalled (non-blocking) after every put

	mu      sync.Mutex // guards the fields below
	lanes   [numLanes][]item
	caps    [numLanes]int
	dropped [numLanes]uint64
}

func newOutbox(b Buffer) *outbox {
	o := &outbox{notify: make(chan struct{}, 1)}
	o.caps[laneResults] = b.Results
	o.caps[laneEvents] = b.Events
	o.caps[laneTelemetry] = b.Telemetry
	return o
}

// put appends it to lane l, dropping the lane's oldest message when the lane is full.
// It reports whether something was dropped.
func (o *outbox) put(l lane, it item) bool {
	var lost *item
	o.mu.Lock()
	q := o.lanes[l]
	if len(q) >= o.caps[l] {
		first := q[0]
		lost = &first
		q = q[1:]
		o.dropped[l]++
	}
	o.lanes[l] = append(q, it)
	o.mu.Unlock()
	if lost != nil {
		lost.finish(false)
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return lost != nil
}

// take removes and returns the first message of the highest-priority non-empty lane.
func (o *outbox) take() (item, lane, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for l := lane(0); l < numLanes; l++ {
		if q := o.lanes[l]; len(q) > 0 {
			it := q[0]
			q[0] = item{}
			o.lanes[l] = q[1:]
			return it, l, true
		}
	}
	return item{}, 0, false
}

// giveBack returns a message that could not be sent to the front of its lane; when the
// lane filled up meanwhile it is dropped (it is the oldest).
func (o *outbox) giveBack(l lane, it item) {
	o.mu.Lock()
	if len(o.lanes[l]) >= o.caps[l] {
		o.dropped[l]++
		o.mu.Unlock()
		it.finish(false)
		return
	}
	o.lanes[l] = append([]item{it}, o.lanes[l]...)
	o.mu.Unlock()
}

// len is the number of messages waiting.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range o.lanes {
		n += len(q)
	}
	return n
}

// drops returns the drop counters.
func (o *outbox) drops() Drops {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Drops{Results: o.dropped[laneResults], Events: o.dropped[laneEvents], Telemetry: o.dropped[laneTelemetry]}
}

// addDropped counts events lost before they reached the outbox (a slow bus reader).
func (o *outbox) addDropped(l lane, n uint64) {
	o.mu.Lock()
	o.dropped[l] += n
	o.mu.Unlock()
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

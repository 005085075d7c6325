package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// watch receives the messages matching any of its filters, in order, without bound:
// the connection's callback must never block, and a fleet's retained messages must
// never be lost to a full buffer.
type watch struct {
	filters []string
	exact   map[string]bool // filters without wildcards
	wild    []string        // filters with wildcards
	marker  string
	sync    bool // waits for its marker: published again on a new connection
	signal  chan struct{}
	stopped chan struct{} // closed when the watch ends

	mu sync.Mutex // guards q
	q  []mqttc.Message

	mmu    sync.Mutex      // guards the marker state below
	sent   int             // markers published
	firsts map[string]bool // the first marker published on each connection
	back   bool            // a marker came back since the last first one was published
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

// markerRetry is how long a sync watch waits for its marker before it publishes another.
// A broker drops QoS 0 messages to a client whose outgoing queue is full (mosquitto:
// max_queued_messages, 1000 by default, counts QoS 0 packets too), which a fleet's
// retained messages can fill; the marker can be one of them.
const markerRetry = 2 * time.Second

// ErrDropped says the broker dropped messages to the fleet client: its queue for the
// client overflowed while the client read the retained state, so the view is incomplete.
var ErrDropped = errors.New("the broker dropped messages to the fleet client while it read the retained state " +
	"(its queue for the client was full), so the view would be incomplete: on mosquitto set " +
	"max_queued_messages 0 (docs/mgmt-protocol.md §11)")

// markerPayload numbers the next marker; first marks it the first of a connection.
func (w *watch) markerPayload(first bool) []byte {
	w.mmu.Lock()
	defer w.mmu.Unlock()
	w.sent++
	p := "sync " + strconv.Itoa(w.sent)
	if first {
		w.firsts[p], w.back = true, false
	}
	return []byte(p)
}

// synced classifies m. marker: m is one of the watch's sync markers. again: one came
// back before (a repeat of the retry; ignore it). err: ErrDropped when the first marker
// of the connection was lost, a sign that the broker dropped messages before it (QoS 0
// messages of one connection keep their order, so a later marker cannot overtake it).
func (w *watch) synced(m mqttc.Message) (marker, again bool, err error) {
	if m.Topic != w.marker {
		return false, false, nil
	}
	w.mmu.Lock()
	defer w.mmu.Unlock()
	if w.back {
		return true, true, nil
	}
	w.back = true
	if !w.firsts[string(m.Payload)] {
		return true, false, ErrDropped
	}
	return true, false, nil
}

// retry publishes another marker every markerRetry while none has come back, until the
// watch ends: a lost marker must not leave the caller waiting for ever.
func (c *Client) retry(w *watch) {
	t := time.NewTicker(markerRetry)
	defer t.Stop()
	for {
		select {
		case <-w.stopped:
			return
		case <-c.done:
			return
		case <-t.C:
		}
		w.mmu.Lock()
		back := w.back
		w.mmu.Unlock()
		if back {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.o.ConnectTimeout)
		if conn, err := c.current(ctx); err == nil {
			_ = conn.Publish(ctx, mqttc.Message{Topic: w.marker, Payload: w.markerPayload(false)})
		}
		cancel()
	}
}

// subscribe starts a watch on filters (QoS 0) and returns it with a function that
// ends it (and the subscriptions no other watch uses). When sync is true it returns
// only after every retained message of the filters has been queued on the watch.
func (c *Client) subscribe(ctx context.Context, filters []string, sync bool) (*watch, func(), error) {
	marker := c.o.Prefix + "/_fleet/" + c.o.ClientID + "/" + randomID()
	w := &watch{filters: append(slices.Clone(filters), marker), exact: map[string]bool{}, marker: marker, sync: sync, signal: make(chan struct{}, 1),
		stopped: make(chan struct{}), firsts: map[string]bool{}}
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
		close(w.stopped)
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
		if conn, err := c.current(uctx); err == nil {
			_ = conn.Unsubscribe(uctx, unused...)
		}
	}
	fm := make(map[string]byte, len(w.filters))
	for _, f := range w.filters {
		fm[f] = 0
	}
	// w is registered: should the connection be lost on the way, the new one is
	// subscribed to its filters and gets its marker (Client.keep).
	conn, err := c.current(ctx)
	if err == nil {
		err = conn.Subscribe(ctx, fm)
		if err == nil && sync {
			err = conn.Publish(ctx, mqttc.Message{Topic: marker, Payload: w.markerPayload(true)})
		}
		if err != nil && lost(conn) {
			_, err = c.current(ctx)
		}
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	if sync {
		go c.retry(w)
	}
	return w, stop, nil
}

// lost reports whether conn has gone: an error of a call on it is then the loss
// (paho reports some losses as its own errors, not mqttc.ErrLost).
func lost(conn *mqttc.Conn) bool {
	select {
	case <-conn.Lost():
		return true
	default:
		return false
	}
}

func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

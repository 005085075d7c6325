package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync"

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
	w := &watch{filters: append(slices.Clone(filters), marker), exact: map[string]bool{}, marker: marker, sync: sync, signal: make(chan struct{}, 1)}
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
			err = conn.Publish(ctx, mqttc.Message{Topic: marker, Payload: []byte("sync")})
		}
		if err != nil && lost(conn) {
			_, err = c.current(ctx)
		}
	}
	if err != nil {
		stop()
		return nil, nil, err
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

// isMarker reports whether m is the watch's sync marker.
func (w *watch) isMarker(m mqttc.Message) bool { return m.Topic == w.marker }

func randomID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

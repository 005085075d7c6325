package mgmt

import (
	"context"
	"encoding/json"
	"path"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

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

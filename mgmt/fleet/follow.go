package fleet

import (
	"context"
	"fmt"

	"github.com/sscagent/sscagent/mgmt"
)

// Update is one message seen by Follow.
type Update struct {
	// Terminal is the terminal id of the topic, Kind one of mgmt's Kind constants
	// (state, telemetry, events, config/desired, config/reported, cmd/result).
	Terminal string
	Kind     string
	// CommandID is the command id of a result.
	CommandID string
	// Retained is set for messages the broker kept from before the subscription.
	Retained bool
	Payload  []byte
}

// Follow subscribes to every terminal's state, telemetry, events, configuration (desired
// and reported) and command results under the prefix and calls fn with each message, in
// arrival order, until ctx ends; it then returns ctx's error. synced, when not nil, is
// called once, after the retained messages. fn runs on Follow's goroutine: a slow fn
// makes messages wait in memory, it loses none.
func (c *Client) Follow(ctx context.Context, fn func(Update), synced func()) error {
	p := c.o.Prefix
	kinds := []string{mgmt.KindState, mgmt.KindTelemetry, mgmt.KindEvents, mgmt.KindDesired, mgmt.KindReported, mgmt.KindResult}
	filters := make([]string, len(kinds))
	for i, k := range kinds {
		filters[i] = mgmt.Fleet(p, k)
	}
	w, stop, err := c.subscribe(ctx, filters, true)
	if err != nil {
		return fmt.Errorf("fleet follow: %w", err)
	}
	defer stop()
	for {
		m, err := w.next(ctx)
		if err != nil {
			return err
		}
		if marker, again, err := w.synced(m); marker {
			if err != nil {
				return fmt.Errorf("fleet follow: %w", err)
			}
			if !again && synced != nil {
				synced()
			}
			continue
		}
		pt, ok := mgmt.ParseTopic(p, m.Topic)
		if !ok || pt.Kind == mgmt.KindCommand {
			continue
		}
		fn(Update{Terminal: pt.Terminal, Kind: pt.Kind, CommandID: pt.ID, Retained: m.Retained, Payload: m.Payload})
	}
}

// Absorb decodes a state, telemetry or config/reported payload into t, as List does; it
// reports whether the payload was one of those and readable. An empty payload (a
// cleared retained message) is not.
func (t *Terminal) Absorb(kind string, payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	before := *t
	absorb(t, kind, payload)
	return t.State != before.State || t.Telemetry != before.Telemetry || t.Reported != before.Reported
}

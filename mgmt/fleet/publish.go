package fleet

import (
	"context"
	"fmt"

	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// publishWindow bounds the QoS 1 messages a fleet operation has in flight (sent, not
// acknowledged). A push to thousands of terminals then goes at the pace the broker
// acknowledges: on a NATS cluster every QoS 1 message is a replicated JetStream
// write, and a burst of thousands at once runs into its store timeouts (after which
// the node drops the connection).
const publishWindow = 64

// publisher sends messages with at most publishWindow unacknowledged.
type publisher struct {
	c       *Client
	pending []*mqttc.Pending
	conns   []*mqttc.Conn // the connection each was handed to
	msgs    []mqttc.Message
	ids     []string
}

func (c *Client) newPublisher() *publisher { return &publisher{c: c} }

// publish sends m (for terminal id), first waiting for the oldest message in flight
// when the window is full.
func (p *publisher) publish(ctx context.Context, id string, m mqttc.Message) error {
	if len(p.pending) == publishWindow {
		if err := p.settle(ctx, 0); err != nil {
			return err
		}
		p.pending, p.conns, p.msgs, p.ids = p.pending[1:], p.conns[1:], p.msgs[1:], p.ids[1:]
	}
	conn, err := p.c.current(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	p.pending = append(p.pending, conn.PublishAsync(m))
	p.conns = append(p.conns, conn)
	p.msgs = append(p.msgs, m)
	p.ids = append(p.ids, id)
	return nil
}

// settle waits for message i; one lost with its connection is sent again on the next
// (a command keeps its id and a desired document its version, so the terminal does
// it once).
func (p *publisher) settle(ctx context.Context, i int) error {
	for {
		err := p.pending[i].Wait(ctx)
		if err == nil || !lost(p.conns[i]) {
			if err != nil {
				return fmt.Errorf("%s: %w", p.ids[i], err)
			}
			return nil
		}
		conn, cerr := p.c.current(ctx)
		if cerr != nil {
			return fmt.Errorf("%s: %w", p.ids[i], err)
		}
		p.pending[i], p.conns[i] = conn.PublishAsync(p.msgs[i]), conn
	}
}

// wait waits for every message in flight.
func (p *publisher) wait(ctx context.Context) error {
	for i := range p.pending {
		if err := p.settle(ctx, i); err != nil {
			return err
		}
	}
	p.pending, p.conns, p.msgs, p.ids = nil, nil, nil, nil
	return nil
}

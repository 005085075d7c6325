package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

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
	err = w.retained(ctx, func(m mqttc.Message) {
		if pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic); ok && pt.Kind == mgmt.KindState {
			if s, err := mgmt.DecodeState(m.Payload); err == nil {
				presence[pt.Terminal] = s.Status
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("fleet cmd: %w", err)
	}
	now := time.Now().UTC()
	req := mgmt.Request{V: mgmt.ProtocolVersion, Name: name, Args: args, Timeout: timeout.Seconds(), ExpiresAt: now.Add(timeout)}
	results := map[string]*CommandResult{}
	waiting := 0
	pub := c.newPublisher()
	for _, id := range ids {
		r := &CommandResult{ID: id, CommandID: cmdID, Status: StatusNoAnswer}
		results[id] = r
		if presence[id] != mgmt.StatusOnline {
			r.Status = StatusOffline
			continue
		}
		if err := c.sendRequest(ctx, pub, id, cmdID, now, req); err != nil {
			return nil, fmt.Errorf("fleet cmd: %w", err)
		}
		waiting++
	}
	if err := pub.wait(ctx); err != nil {
		return nil, fmt.Errorf("fleet cmd: %w", err)
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

// request encodes r as command cmdID for terminal id: signed, issued at now, when the
// client has a Signer.
// sendRequest publishes request r as command cmdID to terminal id (QoS 1, signed when
// the client has a signer) through pub.
func (c *Client) sendRequest(ctx context.Context, pub *publisher, id, cmdID string, now time.Time, r mgmt.Request) error {
	b, err := c.request(id, cmdID, now, r)
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
	return pub.publish(ctx, id, mqttc.Message{Topic: tp.Command(cmdID), Payload: b, QoS: 1})
}

func (c *Client) request(id, cmdID string, now time.Time, r mgmt.Request) ([]byte, error) {
	if c.o.Signer == nil {
		return json.Marshal(r)
	}
	r.Terminal, r.ID, r.IssuedAt = id, cmdID, now
	return mgmt.SignRequest(c.o.Signer, r)
}

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

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
		if marker, again, err := w.synced(m); marker {
			if again {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("fleet push: %w", err)
			}
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
			if d, err := mgmt.ReadDesired(m.Payload); err == nil {
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
	pub := c.newPublisher()
	for _, id := range ids {
		v := o.Version
		if v == 0 {
			v = seen[id] + 1
		}
		d := mgmt.Desired{V: mgmt.ProtocolVersion, Version: v, Config: string(doc), SHA256: rollout.Hash(doc), IssuedAt: now, IssuedBy: o.IssuedBy}
		b, err := c.desired(id, d)
		if err != nil {
			return nil, fmt.Errorf("fleet push %s: %w", id, err)
		}
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		if err := pub.publish(ctx, id, mqttc.Message{Topic: tp.Desired(), Payload: b, QoS: 1, Retained: true}); err != nil {
			return nil, fmt.Errorf("fleet push %w", err)
		}
		r := &PushResult{ID: id, Version: v, Status: StatusTimeout}
		if presence[id] != mgmt.StatusOnline {
			r.Status, r.Reason = StatusOffline, "terminal offline; the retained document is applied when it connects"
		} else {
			waiting++
		}
		results[id] = r
	}
	if err := pub.wait(ctx); err != nil {
		return nil, fmt.Errorf("fleet push %w", err)
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

// whoami names the manager for IssuedBy: user@host.
func whoami() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// desired encodes d for terminal id: signed when the client has a Signer.
func (c *Client) desired(id string, d mgmt.Desired) ([]byte, error) {
	if c.o.Signer == nil {
		return json.Marshal(d)
	}
	d.Terminal = id
	return mgmt.SignDesired(c.o.Signer, d)
}

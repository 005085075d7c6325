package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sscagent/sscagent/mgmt"
)

// Presence of a terminal.
const (
	Online  = "online"
	Offline = "offline"
	Unknown = "unknown" // telemetry or reports but no state message
)

// Terminal is one terminal as the fleet sees it.
type Terminal struct {
	ID string `json:"id"`
	// Presence is online, offline or unknown, epoch-aware: an offline state whose epoch
	// is older than the terminal's latest telemetry is a stale death (StaleDeath) and
	// the terminal counts as online while that telemetry is recent.
	Presence   string `json:"presence"`
	Epoch      uint64 `json:"epoch"`
	StaleDeath bool   `json:"staleDeath,omitempty"`
	// Health is the terminal's own summary (ok, degraded) or "unknown"; Stale is set
	// when its telemetry is older than Options.StaleAfter.
	Health       string          `json:"health"`
	Problems     []string        `json:"problems,omitempty"`
	Stale        bool            `json:"stale,omitempty"`
	TelemetryAge float64         `json:"telemetryAgeSeconds,omitempty"`
	State        *mgmt.State     `json:"state,omitempty"`
	Telemetry    *mgmt.Telemetry `json:"telemetry,omitempty"`
	Reported     *mgmt.Reported  `json:"reported,omitempty"`
}

// List returns every terminal that has a retained state, telemetry or configuration
// report under the prefix, sorted by id; match, when not nil, selects ids.
func (c *Client) List(ctx context.Context, match func(id string) bool) ([]Terminal, error) {
	p := c.o.Prefix
	w, stop, err := c.subscribe(ctx, []string{mgmt.Fleet(p, mgmt.KindState), mgmt.Fleet(p, mgmt.KindTelemetry), mgmt.Fleet(p, mgmt.KindReported)}, true)
	if err != nil {
		return nil, fmt.Errorf("fleet list: %w", err)
	}
	defer stop()
	byID := map[string]*Terminal{}
	get := func(id string) *Terminal {
		t := byID[id]
		if t == nil {
			t = &Terminal{ID: id}
			byID[id] = t
		}
		return t
	}
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet list: %w", err)
		}
		if marker, again, err := w.synced(m); marker {
			if again {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("fleet list: %w", err)
			}
			return c.finish(byID), nil
		}
		pt, ok := mgmt.ParseTopic(p, m.Topic)
		if !ok || len(m.Payload) == 0 || match != nil && !match(pt.Terminal) {
			continue
		}
		absorb(get(pt.Terminal), pt.Kind, m.Payload)
	}
}

// absorb decodes one retained message into t; unreadable messages are skipped.
func absorb(t *Terminal, kind string, payload []byte) {
	switch kind {
	case mgmt.KindState:
		if s, err := mgmt.DecodeState(payload); err == nil {
			t.State = &s
		}
	case mgmt.KindTelemetry:
		var tm mgmt.Telemetry
		if json.Unmarshal(payload, &tm) == nil && tm.V == mgmt.ProtocolVersion {
			t.Telemetry = &tm
		}
	case mgmt.KindReported:
		var r mgmt.Reported
		if json.Unmarshal(payload, &r) == nil && r.V == mgmt.ProtocolVersion {
			t.Reported = &r
		}
	}
}

func (c *Client) finish(byID map[string]*Terminal) []Terminal {
	out := make([]Terminal, 0, len(byID))
	now := time.Now()
	for _, t := range byID {
		c.judge(t, now)
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// judge derives presence and health from the retained messages.
func (c *Client) judge(t *Terminal, now time.Time) { Judge(t, now, c.o.StaleAfter) }

// Judge derives t's presence, epoch and health from its state, telemetry and report
// (§3.3 of docs/mgmt-protocol.md): telemetry older than staleAfter is stale, and an
// offline state older than the latest telemetry is a stale death.
func Judge(t *Terminal, now time.Time, staleAfter time.Duration) {
	t.Presence, t.Health, t.Problems, t.Epoch, t.StaleDeath, t.Stale, t.TelemetryAge = Unknown, "unknown", nil, 0, false, false, 0
	if tm := t.Telemetry; tm != nil {
		age := now.Sub(tm.Time)
		t.TelemetryAge = age.Round(time.Second).Seconds()
		t.Stale = age > staleAfter
		t.Health, t.Problems = tm.Health.Status, tm.Health.Problems
	}
	if s := t.State; s != nil {
		t.Presence, t.Epoch = s.Status, s.Epoch
		if s.Status == mgmt.StatusOffline && t.Telemetry != nil && t.Telemetry.Epoch > s.Epoch {
			// A death from an older session than the latest telemetry: stale.
			t.StaleDeath = true
			t.Epoch = t.Telemetry.Epoch
			if !t.Stale {
				t.Presence = Online
			}
		}
	}
}

// Show returns one terminal and its retained desired configuration (nil when none).
func (c *Client) Show(ctx context.Context, id string) (*Terminal, *mgmt.Desired, error) {
	if err := mgmt.CheckTerminalID(id); err != nil {
		return nil, nil, err
	}
	tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
	w, stop, err := c.subscribe(ctx, []string{tp.State(), tp.Telemetry(), tp.Reported(), tp.Desired()}, true)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet show: %w", err)
	}
	defer stop()
	t := &Terminal{ID: id}
	var desired *mgmt.Desired
	seen := false
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("fleet show: %w", err)
		}
		if marker, again, err := w.synced(m); marker {
			if again {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("fleet show: %w", err)
			}
			if !seen {
				return nil, nil, fmt.Errorf("fleet show: terminal %s has never reported under %s", id, c.o.Prefix)
			}
			c.judge(t, time.Now())
			return t, desired, nil
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		if !ok || len(m.Payload) == 0 {
			continue
		}
		if pt.Kind == mgmt.KindDesired {
			if d, err := mgmt.ReadDesired(m.Payload); err == nil {
				desired = &d
			}
			continue
		}
		seen = true
		absorb(t, pt.Kind, m.Payload)
	}
}

// Resolve expands targets (terminal ids or glob patterns such as "KIOSK-35*") against
// the terminals known to the broker. A plain id is kept even when unknown (its desired
// configuration waits retained until it connects); a pattern that matches nothing is
// an error.
func (c *Client) Resolve(ctx context.Context, targets []string) ([]string, error) {
	var known []string
	if slices.ContainsFunc(targets, func(t string) bool { return strings.ContainsAny(t, "*?[") }) {
		all, err := c.List(ctx, nil)
		if err != nil {
			return nil, err
		}
		for _, t := range all {
			known = append(known, t.ID)
		}
	}
	return Expand(targets, known)
}

// Expand resolves targets (terminal ids or glob patterns) against the known terminal
// ids: a plain id is kept even when unknown, a pattern that matches nothing or is
// malformed is an error. The result is sorted, without duplicates.
func Expand(targets, known []string) ([]string, error) {
	var ids []string
	for _, t := range targets {
		if !strings.ContainsAny(t, "*?[") {
			if err := mgmt.CheckTerminalID(t); err != nil {
				return nil, fmt.Errorf("%q: %w", t, err)
			}
			ids = append(ids, t)
			continue
		}
		if _, err := path.Match(t, ""); err != nil {
			return nil, fmt.Errorf("bad pattern %q", t)
		}
		n := 0
		for _, id := range known {
			if ok, _ := path.Match(t, id); ok {
				ids = append(ids, id)
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("pattern %q matches no terminal", t)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/mgmt"
)

// Outcomes of a software update on one terminal.
const (
	UpgradeDone     = "upgraded" // the new version reported healthy and is in its birth
	UpgradeAlready  = "already"  // the terminal ran the version before
	UpgradeRefused  = "refused"  // the terminal refused the command (signature, digest, platform, ...)
	UpgradeFailed   = "failed"   // the new build was tried and rolled back
	UpgradeNoAnswer = "no-answer"
	UpgradeOffline  = "offline" // not sent
	UpgradeSkipped  = "skipped" // a stage before failed: not sent
)

// The agent's upgrade event kinds (agent/upgrade).
const (
	kindUpgradeSucceeded = "upgrade.succeeded"
	kindUpgradeFailed    = "upgrade.failed"
)

// UpgradeResult is the outcome on one terminal.
type UpgradeResult struct {
	ID      string `json:"id"`
	Stage   int    `json:"stage"`
	Status  string `json:"status"`
	From    string `json:"from,omitempty"`
	Version string `json:"version,omitempty"`
	// Reason and Code are the terminal's (the 8.4 code of a refusal or a rollback).
	Reason string `json:"reason,omitempty"`
	Code   string `json:"code,omitempty"`
}

// OK reports whether the terminal runs the version.
func (r UpgradeResult) OK() bool { return r.Status == UpgradeDone || r.Status == UpgradeAlready }

// UpgradeOptions configure Upgrade.
type UpgradeOptions struct {
	// Version is the version the terminals must report.
	Version string
	// Args returns the upgrade command's arguments for a terminal as it was last
	// seen (the build for its platform), or an error that makes it fail unsent.
	Args func(t Terminal) (json.RawMessage, error)
	// Stages are the terminal ids of each stage, in order.
	Stages [][]string
	// MaxFailures stops the rollout after the stage in which this many terminals
	// failed (refused, rolled back, no answer). Default 1: stop on the first failure.
	MaxFailures int
	// CommandTimeout is the download's time limit on the terminal (at most 10m).
	// Default 5m.
	CommandTimeout time.Duration
	// StageTimeout bounds a stage: download, trial, swap and confirmation. Default
	// CommandTimeout plus 10m.
	StageTimeout time.Duration
	// Progress, when set, is called with each terminal's outcome as it is known.
	Progress func(UpgradeResult)
}

// Upgrade rolls a software version out in stages: it sends the upgrade command to each
// online terminal of a stage at once and waits until each reports the version in its
// birth after an upgrade.succeeded event, or fails; once a stage ends with
// MaxFailures failures, the later stages are skipped. The results come in stage order.
func (c *Client) Upgrade(ctx context.Context, o UpgradeOptions) ([]UpgradeResult, error) {
	if o.Version == "" || o.Args == nil {
		return nil, errors.New("fleet upgrade: a version and the artifacts are required")
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 1
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.CommandTimeout > mgmt.MaxCommandTimeout {
		return nil, fmt.Errorf("fleet upgrade: command timeout must be at most %s", mgmt.MaxCommandTimeout)
	}
	if o.StageTimeout <= 0 {
		o.StageTimeout = o.CommandTimeout + 10*time.Minute
	}
	var out []UpgradeResult
	failures := 0
	for i, ids := range o.Stages {
		if failures >= o.MaxFailures {
			for _, id := range ids {
				r := UpgradeResult{ID: id, Stage: i + 1, Status: UpgradeSkipped, Version: o.Version}
				out = append(out, r)
				if o.Progress != nil {
					o.Progress(r)
				}
			}
			continue
		}
		rs, err := c.upgradeStage(ctx, i+1, ids, o)
		out = append(out, rs...)
		if err != nil {
			return out, err
		}
		for _, r := range rs {
			if !r.OK() && r.Status != UpgradeOffline {
				failures++
			}
		}
	}
	return out, nil
}

type upgradeWatch struct {
	r         *UpgradeResult
	sent      bool
	succeeded bool   // the upgrade.succeeded event
	version   string // of the last birth
	online    bool
}

func (w *upgradeWatch) final() bool {
	switch w.r.Status {
	case UpgradeDone, UpgradeAlready, UpgradeRefused, UpgradeFailed, UpgradeOffline:
		return true
	}
	return false
}

func (c *Client) upgradeStage(ctx context.Context, stage int, ids []string, o UpgradeOptions) ([]UpgradeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.StageTimeout)
	defer cancel()
	cmdID := fmt.Sprintf("u%d-%s", time.Now().Unix(), randomID()[:8])
	var filters []string
	for _, id := range ids {
		tp := mgmt.Topics{Prefix: c.o.Prefix, Terminal: id}
		filters = append(filters, tp.State(), tp.Events(), tp.Result(cmdID))
	}
	w, stop, err := c.subscribe(ctx, filters, true)
	if err != nil {
		return nil, fmt.Errorf("fleet upgrade: %w", err)
	}
	defer stop()
	seen := map[string]*Terminal{}
	for {
		m, err := w.next(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet upgrade: %w", err)
		}
		if marker, again, err := w.synced(m); marker {
			if again {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("fleet upgrade: %w", err)
			}
			break
		}
		if pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic); ok && pt.Kind == mgmt.KindState {
			t := &Terminal{ID: pt.Terminal}
			absorb(t, pt.Kind, m.Payload)
			seen[pt.Terminal] = t
		}
	}
	watches := map[string]*upgradeWatch{}
	progress := func(uw *upgradeWatch) {
		if o.Progress != nil {
			o.Progress(*uw.r)
		}
	}
	now := time.Now().UTC()
	req := mgmt.Request{V: mgmt.ProtocolVersion, Name: "upgrade", Timeout: o.CommandTimeout.Seconds(), ExpiresAt: now.Add(o.CommandTimeout)}
	pub := c.newPublisher()
	waiting := 0
	for _, id := range ids {
		uw := &upgradeWatch{r: &UpgradeResult{ID: id, Stage: stage, Status: UpgradeNoAnswer, Version: o.Version}}
		watches[id] = uw
		t := seen[id]
		if t == nil || t.State == nil || t.State.Status != mgmt.StatusOnline {
			uw.r.Status = UpgradeOffline
			progress(uw)
			continue
		}
		if sw := t.State.Software; sw != nil {
			uw.r.From = sw.Version
			if sw.Version == o.Version {
				uw.r.Status = UpgradeAlready
				progress(uw)
				continue
			}
		}
		args, err := o.Args(*t)
		if err != nil {
			uw.r.Status, uw.r.Reason = UpgradeRefused, err.Error()
			progress(uw)
			continue
		}
		r := req
		r.Args = args
		if err := c.sendRequest(ctx, pub, id, cmdID, now, r); err != nil {
			return nil, fmt.Errorf("fleet upgrade: %w", err)
		}
		uw.sent = true
		waiting++
	}
	if err := pub.wait(ctx); err != nil {
		return nil, fmt.Errorf("fleet upgrade: %w", err)
	}
	for waiting > 0 {
		m, err := w.next(ctx)
		if err != nil {
			break // the rest stay "no-answer"
		}
		pt, ok := mgmt.ParseTopic(c.o.Prefix, m.Topic)
		uw := watches[pt.Terminal]
		if !ok || uw == nil || !uw.sent || uw.final() {
			continue
		}
		switch pt.Kind {
		case mgmt.KindResult:
			var res mgmt.Result
			if pt.ID != cmdID || json.Unmarshal(m.Payload, &res) != nil {
				continue
			}
			if res.Status != mgmt.ResultOK {
				uw.r.Status, uw.r.Reason, uw.r.Code = UpgradeRefused, res.Error, res.Code
				if res.Error == "" {
					uw.r.Reason = res.Status
				}
				break
			}
			var v struct {
				Already bool `json:"already"`
			}
			if json.Unmarshal(res.Result, &v) == nil && v.Already {
				uw.r.Status = UpgradeAlready
			}
		case mgmt.KindEvents:
			var e mgmt.EventMessage
			if json.Unmarshal(m.Payload, &e) != nil || e.Data["version"] != o.Version {
				continue
			}
			switch string(e.Kind) {
			case kindUpgradeSucceeded:
				uw.succeeded = true
			case kindUpgradeFailed:
				uw.r.Status = UpgradeFailed
				uw.r.Reason, _ = e.Data["reason"].(string)
				if e.Prompts != nil {
					uw.r.Code = e.Prompts.Code
				}
			}
		case mgmt.KindState:
			if s, err := mgmt.DecodeState(m.Payload); err == nil {
				uw.online = s.Status == mgmt.StatusOnline
				if uw.online && s.Software != nil {
					uw.version = s.Software.Version
				}
			}
		}
		if uw.succeeded && uw.online && uw.version == o.Version {
			uw.r.Status = UpgradeDone
		}
		if uw.final() {
			waiting--
			progress(uw)
		}
	}
	out := make([]UpgradeResult, 0, len(ids))
	for _, id := range ids {
		uw := watches[id]
		if uw.r.Status == UpgradeNoAnswer {
			progress(uw)
		}
		out = append(out, *uw.r)
	}
	return out, nil
}

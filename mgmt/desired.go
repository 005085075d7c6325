package mgmt

import (
	"encoding/json"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// takeDesired verifies a desired configuration (§10.1) and hands it to the rollout.
func (s *Session) takeDesired(m mqttc.Message) {
	if len(m.Payload) == 0 {
		return // retained message cleared
	}
	msg, signed, ref := s.guard.open(m.Payload, TypeConfig, MaxDesiredSize)
	var d Desired
	if ref == nil {
		var err error
		d, err = DecodeDesired(msg)
		switch {
		case err != nil && signed:
			ref = refuse(RefusedMalformed, "payload: %v", err)
		case err != nil:
			if s.firstBad(m.Payload) {
				s.onReport(rollout.Report{Ref: rollout.Ref{Version: d.Version, SHA256: rollout.Hash(m.Payload)}, Status: rollout.StatusRejected,
					Reason:    "unreadable desired message: " + err.Error(),
					Committed: s.o.Rollout.Status().Committed, Time: time.Now().UTC()})
			}
			return
		case signed:
			ref = s.guard.desired(d, time.Now())
		}
	}
	if ref != nil {
		s.refuseDesired(m.Payload, d.Version, ref)
		return
	}
	s.o.Rollout.Offer(rollout.Desired{Version: d.Version, Doc: []byte(d.Config)})
}

// firstBad reports whether payload differs from the last bad desired message, so a
// retained bad message delivered again at every reconnect is reported once.
func (s *Session) firstBad(payload []byte) bool {
	h := rollout.Hash(payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	repeat := s.lastBad == h
	s.lastBad = h
	return !repeat
}

// refuseDesired reports a desired message that failed verification: nothing reaches the
// rollout. The version is the one the message claims (for the manager to match).
func (s *Session) refuseDesired(payload []byte, version uint64, r *Refusal) {
	if !s.firstBad(payload) {
		return
	}
	if version == 0 {
		// What it claims, even when the rest does not read.
		var v struct {
			Version uint64 `json:"version"`
		}
		inner := payload
		if e, signed, err := ParseEnvelope(payload, envelopeLimit(MaxDesiredSize)); err == nil && signed {
			inner = e.Payload
		}
		if json.Unmarshal(inner, &v) == nil {
			version = v.Version
		}
	}
	rep := Reported{V: ProtocolVersion, Epoch: s.currentEpoch(), Refusal: r.Reason, Report: rollout.Report{
		Ref: rollout.Ref{Version: version, SHA256: rollout.Hash(payload)}, Status: rollout.StatusRefused,
		Reason: mask.Text("refused: " + r.Error()), Committed: s.o.Rollout.Status().Committed, Time: time.Now().UTC()}}
	s.publishReported(rep)
	s.refused("configuration", r, map[string]any{"version": version})
}

// onReport publishes a rollout report: retained on config/reported, and as an event
// when it is final.
func (s *Session) onReport(r rollout.Report) {
	r.Reason = mask.Text(r.Reason)
	for i := range r.Problems {
		r.Problems[i].Reason = mask.Text(r.Problems[i].Reason)
	}
	s.publishReported(Reported{V: ProtocolVersion, Epoch: s.currentEpoch(), Report: r})
	if r.Status.Final() {
		ok := r.Status == rollout.StatusCommitted || r.Status == rollout.StatusUnchanged
		data := map[string]any{"version": r.Version, "committed": r.Committed.Version}
		if r.Reason != "" {
			data["reason"] = r.Reason
		}
		if len(r.Problems) > 0 {
			data["problems"] = len(r.Problems)
		}
		s.emit("config."+string(r.Status), ok, configCode(r.Status), data)
	}
}

// publishReported queues a report, retained on config/reported.
func (s *Session) publishReported(r Reported) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	s.enqueue(laneResults, item{msg: mqttc.Message{Topic: s.topics.Reported(), Payload: b, QoS: 1, Retained: true}})
}

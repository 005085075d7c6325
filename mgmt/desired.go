package mgmt

import (
	"encoding/json"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// takeDesired hands a desired configuration to the rollout.
func (s *Session) takeDesired(m mqttc.Message) {
	if len(m.Payload) == 0 {
		return // retained message cleared
	}
	d, err := DecodeDesired(m.Payload)
	if err != nil {
		h := rollout.Hash(m.Payload)
		s.mu.Lock()
		repeat := s.lastBad == h
		s.lastBad = h
		s.mu.Unlock()
		if !repeat {
			s.onReport(rollout.Report{Ref: rollout.Ref{Version: d.Version, SHA256: h}, Status: rollout.StatusRejected,
				Reason:    "unreadable desired message: " + err.Error(),
				Committed: s.o.Rollout.Status().Committed, Time: time.Now().UTC()})
		}
		return
	}
	s.o.Rollout.Offer(rollout.Desired{Version: d.Version, Doc: []byte(d.Config)})
}

// onReport publishes a rollout report: retained on config/reported, and as an event
// when it is final.
func (s *Session) onReport(r rollout.Report) {
	r.Reason = mask.Text(r.Reason)
	for i := range r.Problems {
		r.Problems[i].Reason = mask.Text(r.Problems[i].Reason)
	}
	b, err := json.Marshal(Reported{V: ProtocolVersion, Epoch: s.currentEpoch(), Report: r})
	if err != nil {
		return
	}
	s.enqueue(laneResults, item{msg: mqttc.Message{Topic: s.topics.Reported(), Payload: b, QoS: 1, Retained: true}})
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

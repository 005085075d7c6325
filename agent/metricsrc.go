package agent

import (
	"strings"
	"time"

	"github.com/sscagent/sscagent/agent/metrics"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

// metricsSnapshot is the metrics' Source: the agent's status in the metrics' terms.
func (a *Agent) metricsSnapshot() metrics.Snapshot {
	st := a.status(time.Now())
	s := metrics.Snapshot{QueueDepth: map[string]int64{}, QueueOldestSeconds: map[string]float64{},
		Quarantined: st.Queue.Queue.Quarantined, QueueFull: st.Queue.Queue.Full,
		PaymentsOpen: st.Queue.Payments.Open, PaymentsManual: st.Queue.Payments.NeedsManual,
		PlatformUp: st.Platform.Up, ClockOffsetSeconds: st.Platform.ClockSkewSeconds,
		MQTTEnabled: st.Mgmt.Enabled, MQTTConnected: st.Mgmt.Online}
	for lane, ls := range st.Queue.Queue.Lanes {
		s.QueueDepth[lane.String()] = ls.Depth
		s.QueueOldestSeconds[lane.String()] = ls.OldestAgeSeconds
	}
	if c := st.Cards; c != nil {
		for _, r := range c.Readers {
			s.Readers = append(s.Readers, metrics.Device{Name: r.Name, Up: !r.Mute, Card: r.Present})
		}
		s.PSAMPresent, s.PSAMUsable = c.PSAM.Present, c.PSAM.Usable
	}
	for _, sc := range st.Scanners {
		s.Scanners = append(s.Scanners, metrics.Device{Name: sc.Name, Up: sc.Stats.Connected})
	}
	if a.mgmt != nil {
		s.MQTTOutbox = a.mgmt.OutboxLen()
	}
	return s
}

// observeCall is the platform client's OnCall.
func (a *Agent) observeCall(op protocol.Op, class platform.Class, d time.Duration) {
	a.metrics.Call(string(op), class.String(), d)
}

// countRead counts the outcomes of reads from the pipeline's events: an auth.* event
// ends a read that reached the platform, a failed card.read one that did not.
func (a *Agent) countRead(kind event.Kind, scene string, ok bool, data map[string]any) {
	medium, _ := data["medium"].(string)
	switch {
	case strings.HasPrefix(string(kind), "auth."):
		a.metrics.Read(scene, medium, strings.TrimPrefix(string(kind), "auth."))
	case kind == KindCardRead && !ok:
		a.metrics.Read(scene, "card", "read_failed")
	}
}

func (a *Agent) metricsBound(addr string) {
	a.metricsAddr.Store(&addr)
	a.log.Info("metrics listening", "addr", addr, "path", "/metrics")
}

// MetricsAddr returns the address of GET /metrics ("" when metrics are off or the
// server has not started yet).
func (a *Agent) MetricsAddr() string {
	if p := a.metricsAddr.Load(); p != nil {
		return *p
	}
	return ""
}

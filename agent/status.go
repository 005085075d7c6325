package agent

import (
	"time"

	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
)

// Status is the terminal's status as GET /v1/status shows it: parts, devices, the
// queue, the platform link and management. It holds no personal data.
type Status struct {
	Terminal TerminalStatus `json:"terminal"`
	Version  version.Info   `json:"version"`
	Started  time.Time      `json:"started"`
	Uptime   float64        `json:"uptimeSeconds"`
	Scenes   []SceneStatus  `json:"scenes"`
	Parts    []PartState    `json:"parts"`
	// Cards is the card reader manager's health (absent without card scenes).
	Cards    *readers.Health  `json:"cards,omitempty"`
	Scanners []ScannerStatus  `json:"scanners,omitempty"`
	Queue    QueueStatus      `json:"queue"`
	Platform PlatformStatus   `json:"platform"`
	Mgmt     MgmtStatus       `json:"mgmt"`
	Config   ConfigStatusView `json:"config"`
}

// TerminalStatus is the terminal's registered identity.
type TerminalStatus struct {
	ID           string `json:"id"`
	Manufacturer string `json:"manufacturer"`
	Model        string `json:"model"`
	Institution  string `json:"institution"`
	Region       string `json:"region"`
	Site         string `json:"site"`
	DeviceType   string `json:"deviceType"`
	Test         bool   `json:"test,omitempty"`
}

// SceneStatus is one scene and, for a payment scene, the order waiting for a code.
type SceneStatus struct {
	Name           string   `json:"name"`
	Kind           string   `json:"kind"`
	Readers        []string `json:"readers,omitempty"`
	Scanners       []string `json:"scanners,omitempty"`
	Method         string   `json:"method,omitempty"`
	WaitingOrderNo string   `json:"waitingOrderNo,omitempty"`
}

// ScannerStatus is one scanner's counters.
type ScannerStatus struct {
	Name string `json:"name"`
	qrscan.Stats
}

// QueueStatus is the queue, the uploader and the payment orders.
type QueueStatus struct {
	Queue    queue.Stats    `json:"queue"`
	Backflow backflow.Stats `json:"backflow"`
	Payments payment.Stats  `json:"payments"`
	Error    string         `json:"error,omitempty"`
}

// PlatformStatus is the link to the platform.
type PlatformStatus struct {
	BaseURL   string `json:"baseURL"`
	ChannelNo string `json:"channelNo"`
	Up        bool   `json:"up"`
	// Unknown is set until the first call of the running platform client (after start
	// or a configuration change): the link is neither known up nor known down.
	Unknown          bool      `json:"unknown,omitempty"`
	LastSuccess      time.Time `json:"lastSuccess,omitzero"`
	LastFailure      time.Time `json:"lastFailure,omitzero"`
	LastError        string    `json:"lastError,omitempty"`
	Calls            uint64    `json:"calls"`
	ClockSkewSeconds float64   `json:"clockSkewSeconds"`
	ClockSkewed      bool      `json:"clockSkewed"`
}

// MgmtStatus is the session with terminal management.
type MgmtStatus struct {
	Enabled bool `json:"enabled"`
	Online  bool `json:"online"`
}

// ConfigStatusView says which remote configuration runs.
type ConfigStatusView struct {
	RemoteVersion uint64 `json:"remoteVersion,omitempty"`
	Pending       bool   `json:"pending,omitempty"`
	Phase         string `json:"phase,omitempty"`
}

// queueStats reads the queue, the uploader and the payment counters.
func (a *Agent) queueStats() QueueStatus {
	var qs QueueStatus
	var err error
	if qs.Queue, err = a.queue.Stats(); err != nil {
		qs.Error = err.Error()
	}
	if qs.Payments, err = a.payments.Stats(); err != nil && qs.Error == "" {
		qs.Error = err.Error()
	}
	a.mu.Lock()
	u := a.gen.uploader
	a.mu.Unlock()
	qs.Backflow = u.Stats()
	return qs
}

// status reads every part's counters; it probes no device.
func (a *Agent) status(now time.Time) Status {
	a.mu.Lock()
	cfg, g := a.cfg, a.gen
	a.mu.Unlock()
	t := cfg.Terminal
	st := Status{
		Terminal: TerminalStatus{ID: t.ID, Manufacturer: t.Manufacturer, Model: t.Model, Institution: t.Institution,
			Region: t.Region, Site: t.Site, DeviceType: string(t.DeviceType), Test: t.Test},
		Version: version.Get(), Started: a.started, Uptime: now.Sub(a.started).Seconds(),
		Parts: a.sup.States(), Queue: a.queueStats(),
	}
	for _, s := range cfg.Scenes {
		ss := SceneStatus{Name: s.Name, Kind: string(s.Kind), Readers: s.Readers, Scanners: s.Scanners, Method: s.Payment.Method}
		if w, ok := a.waits.get(s.Name); ok {
			ss.WaitingOrderNo = w.no
		}
		st.Scenes = append(st.Scenes, ss)
	}
	if g.cards != nil {
		h := g.cards.Health()
		st.Cards = &h
	}
	for _, c := range cfg.Scanners {
		if sc := g.scanners[c.Name]; sc != nil {
			st.Scanners = append(st.Scanners, ScannerStatus{Name: c.Name, Stats: sc.Stats()})
		}
	}
	l := a.link.client().Link()
	st.Platform = PlatformStatus{BaseURL: cfg.Platform.BaseURL, ChannelNo: cfg.Platform.ChannelNo, Up: l.Up() && !a.link.isDown(),
		Unknown: l.Calls == 0, LastSuccess: l.LastSuccess, LastFailure: l.LastFailure, LastError: l.LastError, Calls: l.Calls,
		ClockSkewSeconds: l.ClockOffset.Seconds(), ClockSkewed: l.ClockSkewed}
	if a.mgmt != nil {
		st.Mgmt = MgmtStatus{Enabled: true, Online: a.mgmt.Online()}
	}
	if a.rollout != nil {
		rs := a.rollout.Status()
		st.Config = ConfigStatusView{RemoteVersion: rs.Committed.Version, Pending: rs.Pending != nil, Phase: rs.Phase}
	}
	return st
}

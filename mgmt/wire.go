package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// ProtocolVersion is the "v" field of every payload. Fields are only ever added within a
// version; a reader ignores fields it does not know. A breaking change gets a new
// version and a new topic root (ssc/v2/...).
const ProtocolVersion = 1

// Presence states.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// Offline reasons.
const (
	ReasonConnectionLost = "connection-lost" // the will: the broker lost the connection
	ReasonShutdown       = "shutdown"        // the agent stopped cleanly
)

// State is the retained presence message on {prefix}/{id}/state: the birth when a
// session starts, and the offline message (the will, or the explicit one at a clean
// shutdown) carrying the same epoch, so a consumer can tell a stale death (an epoch
// older than the last birth) from a real one.
type State struct {
	V      int    `json:"v"`
	Status string `json:"status"`
	// Epoch numbers the terminal's MQTT sessions: persisted, +1 for every connection.
	Epoch uint64 `json:"epoch"`
	// Boot identifies the agent process (random per start).
	Boot string `json:"boot"`
	// Reason says why a terminal is offline (connection-lost, shutdown).
	Reason string `json:"reason,omitempty"`
	// Time is when the message was composed (for the will: when the session started).
	Time time.Time `json:"time"`
	// StartedAt is when the agent process started (birth only).
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// The registration (birth only).
	Terminal *Registration `json:"terminal,omitempty"`
	Scenes   []Scene       `json:"scenes,omitempty"`
	Platform *PlatformInfo `json:"platform,omitempty"`
	Software *Software     `json:"software,omitempty"`
	Config   *ConfigState  `json:"config,omitempty"`
}

// Registration is the terminal's registered identity (spec 6.3 c, 9.3.3 a).
type Registration struct {
	ID           string              `json:"id"`
	Manufacturer string              `json:"manufacturer"`
	Model        string              `json:"model"`
	Institution  string              `json:"institution"`
	CreditCode   string              `json:"creditCode"`
	Region       string              `json:"region"`
	Site         string              `json:"site"`
	DeviceType   terminal.DeviceType `json:"deviceType"`
	CardModes    []terminal.CardMode `json:"cardModes"`
	// The spec 6.3 c and 9.3.2 a registration items beyond the above.
	InstitutionNo  string   `json:"institutionNo,omitempty"`
	SoftwareVendor string   `json:"softwareVendor,omitempty"`
	CardProvinces  []string `json:"cardProvinces,omitempty"`
	Businesses     []string `json:"businesses,omitempty"`
	Test           bool     `json:"test,omitempty"`
}

// RegistrationOf converts the configured identity.
func RegistrationOf(id terminal.Identity) *Registration {
	return &Registration{ID: id.ID, Manufacturer: id.Manufacturer, Model: id.Model, Institution: id.Institution,
		CreditCode: id.CreditCode, Region: id.Region, Site: id.Site, DeviceType: id.DeviceType,
		CardModes: id.CardModes, InstitutionNo: id.InstitutionNo, SoftwareVendor: id.SoftwareVendor,
		CardProvinces: id.Provinces(), Businesses: id.Businesses, Test: id.Test}
}

// Scene is a configured scene as announced in the birth.
type Scene struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// PlatformInfo is the platform connection of the birth: the channel (应用系统, spec
// 6.3 c) and the platform profile spoken (docs/platform-profiles.md).
type PlatformInfo struct {
	ChannelNo string `json:"channelNo"`
	Profile   string `json:"profile"`
}

// Software is the agent's build identity.
type Software struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
	// Platform is GOOS/GOARCH ("linux/arm64"): which build a software update sends.
	Platform string `json:"platform,omitempty"`
	// Install says how the agent was installed: binary, deb or rpm (the packages'
	// marker): which artifact kind a software update sends. Empty (older agents): binary.
	Install string `json:"install,omitempty"`
}

// ConfigState is the remote configuration state: the committed version and any apply
// in flight.
type ConfigState struct {
	Version uint64       `json:"version"`
	SHA256  string       `json:"sha256,omitempty"`
	Pending *rollout.Ref `json:"pending,omitempty"`
	Phase   string       `json:"phase,omitempty"`
}

// Telemetry is the retained periodic message on {prefix}/{id}/telemetry.
type Telemetry struct {
	V     int       `json:"v"`
	Epoch uint64    `json:"epoch"`
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	// UptimeSeconds since the agent started.
	UptimeSeconds int64  `json:"uptimeSeconds"`
	Health        Health `json:"health"`
	Devices
	Process Process      `json:"process"`
	Link    Link         `json:"link"`
	Config  *ConfigState `json:"config,omitempty"`
}

// Health summarises the terminal: "ok", or "degraded" with the problems found.
type Health struct {
	Status   string   `json:"status"`
	Problems []string `json:"problems,omitempty"`
}

// Health statuses.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
)

// Devices is what the agent's parts report; see Source.
type Devices struct {
	Readers  []Reader  `json:"readers,omitempty"`
	PSAMs    []PSAM    `json:"psams,omitempty"`
	Scanners []Scanner `json:"scanners,omitempty"`
	Queue    *Queue    `json:"queue,omitempty"`
	Payments *Payments `json:"payments,omitempty"`
	Platform *Platform `json:"platform,omitempty"`
	Parts    []Part    `json:"parts,omitempty"`
}

// Reader is one PC/SC reader.
type Reader struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // holder or psam
	Present   bool   `json:"present"`
	Card      bool   `json:"card"`
	LastError string `json:"lastError,omitempty"`
}

// PSAM is one security module.
type PSAM struct {
	Reader     string `json:"reader"`
	Status     string `json:"status"` // ok, absent, locked, error
	TerminalNo string `json:"terminalNo,omitempty"`
	LastError  string `json:"lastError,omitempty"`
}

// PSAM statuses.
const PSAMOK = "ok"

// Scanner is one QR scanner.
type Scanner struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
	Scans     uint64 `json:"scans"`
	BadInput  uint64 `json:"badInput"`
	LastError string `json:"lastError,omitempty"`
}

// Queue is the durable record queue.
type Queue struct {
	Depth            int     `json:"depth"`
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
	Quarantined      int     `json:"quarantined"`
	Bytes            int64   `json:"bytes,omitempty"`
}

// Payments are the terminal's payment orders that are not done with.
type Payments struct {
	// Open counts orders whose outcome is not final yet.
	Open int `json:"open"`
	// NeedsManual counts NEEDS_MANUAL orders nobody settled yet: a person must check
	// them with the platform (GET /v1/payments?state=NEEDS_MANUAL on the terminal).
	NeedsManual int `json:"needsManual"`
}

// Platform is the link to the one-card-pass platform.
type Platform struct {
	Up bool `json:"up"`
	// Unknown is set while the terminal has not called the platform yet (since start or
	// a configuration change): neither up nor down, and not a health problem.
	Unknown   bool       `json:"unknown,omitempty"`
	LastOK    *time.Time `json:"lastOK,omitempty"`
	LastError string     `json:"lastError,omitempty"`
	// ClockSkewSeconds is the platform's clock minus the terminal's.
	ClockSkewSeconds float64 `json:"clockSkewSeconds"`
	RTTMillis        float64 `json:"rttMillis,omitempty"`
}

// Part is one supervised part of the agent.
type Part struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"lastError,omitempty"`
}

// Process is the agent's own resource use.
type Process struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	// CPUPercent is the CPU used since the previous sample, in percent of one core.
	CPUPercent float64 `json:"cpuPercent"`
	RSSBytes   uint64  `json:"rssBytes"`
	HeapBytes  uint64  `json:"heapBytes"`
	Goroutines int     `json:"goroutines"`
}

// Link is the MQTT session's counters.
type Link struct {
	Connects     uint64        `json:"connects"`
	Failures     uint64        `json:"failures"`
	SessionsLost uint64        `json:"sessionsLost"`
	Buffered     int           `json:"buffered"`
	Dropped      Drops         `json:"dropped"`
	Commands     CommandCounts `json:"commands"`
	LastError    string        `json:"lastError,omitempty"`
}

// CommandCounts counts the command requests received.
type CommandCounts struct {
	// Taken: answered (with any status).
	Taken uint64 `json:"taken"`
	// Duplicates: ids already answered, ignored.
	Duplicates uint64 `json:"duplicates"`
	// Retained: delivered with the retain flag, ignored.
	Retained uint64 `json:"retained"`
	// Refused: failed verification (§10.1), not run.
	Refused uint64 `json:"refused"`
}

// Drops counts messages lost to the offline buffer bounds, by kind.
type Drops struct {
	Events    uint64 `json:"events"`
	Telemetry uint64 `json:"telemetry"`
	Results   uint64 `json:"results"`
	Commands  uint64 `json:"commands"`
}

// EventMessage is one event on {prefix}/{id}/events: the event bus's Event (already
// masked) with the session epoch. Seq is the bus's sequence number, unique within one
// agent process (Boot).
type EventMessage struct {
	V     int    `json:"v"`
	Epoch uint64 `json:"epoch"`
	Boot  string `json:"boot"`
	event.Event
}

// Desired is the retained configuration document managers publish on
// {prefix}/{id}/config/desired. Config is YAML in the configuration file's shape, laid
// over the terminal's file (mgmt/rollout). An empty payload (a cleared retained
// message) is no document.
type Desired struct {
	V int `json:"v"`
	// Type and Terminal bind a signed document (§10.1): Type is "config", Terminal the
	// id of the one terminal it is for. An unsigned document leaves them out.
	Type     string `json:"type,omitempty"`
	Terminal string `json:"terminal,omitempty"`
	Version  uint64 `json:"version"`
	Config   string `json:"config"`
	// SHA256 of Config's bytes (hex); when present it must match.
	SHA256   string    `json:"sha256,omitempty"`
	IssuedAt time.Time `json:"issuedAt,omitzero"`
	IssuedBy string    `json:"issuedBy,omitempty"`
}

// Reported is the retained outcome on {prefix}/{id}/config/reported.
type Reported struct {
	V     int    `json:"v"`
	Epoch uint64 `json:"epoch"`
	// Refusal is set with status "refused": why the message was not taken (one of the
	// Refused constants, §10.1).
	Refusal string `json:"refusal,omitempty"`
	rollout.Report
}

// Request is a command request on {prefix}/{id}/cmd/{commandId}.
type Request struct {
	V int `json:"v"`
	// Type, Terminal, ID and IssuedAt bind a signed request (§10.1): Type is "command",
	// Terminal the one terminal it is for, ID the command id of its topic, IssuedAt when
	// the manager made it. An unsigned request leaves them out.
	Type     string          `json:"type,omitempty"`
	Terminal string          `json:"terminal,omitempty"`
	ID       string          `json:"id,omitempty"`
	IssuedAt time.Time       `json:"issuedAt,omitzero"`
	Name     string          `json:"name"`
	Args     json.RawMessage `json:"args,omitempty"`
	// Timeout in seconds; 0 takes mgmt.commandTimeout; at most 600.
	Timeout float64 `json:"timeout,omitempty"`
	// ExpiresAt: a command received after this time is not run (result "expired").
	// Required in a signed request.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Result is the answer on {prefix}/{id}/cmd/{commandId}/result.
type Result struct {
	V      int             `json:"v"`
	ID     string          `json:"id"`
	Name   string          `json:"name,omitempty"`
	Status string          `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Code   string          `json:"code,omitempty"`
	// Refusal is set with status "refused" (and "expired" for a signed request): why
	// the request was not run (one of the Refused constants, §10.1).
	Refusal    string    `json:"refusal,omitempty"`
	Epoch      uint64    `json:"epoch"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

// Result statuses.
const (
	ResultOK      = "ok"
	ResultError   = "error"
	ResultUnknown = "unknown" // no such command on this terminal
	ResultInvalid = "invalid" // the request could not be read
	ResultTimeout = "timeout"
	ResultExpired = "expired"
	ResultBusy    = "busy"
	ResultRefused = "refused" // failed verification (§10.1): not signed, wrongly signed, replayed, ...
)

// Payload bounds.
const (
	MaxCommandSize = 64 << 10
	MaxDesiredSize = 2 * rollout.MaxDocSize
)

var errPayloadVersion = errors.New("unsupported payload version")

// decode reads one JSON object of at most limit bytes into v and checks its "v".
func decode(b []byte, limit int, v any, ver func() int) error {
	if len(b) > limit {
		return fmt.Errorf("payload is %d bytes, more than %d", len(b), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	if n := ver(); n != ProtocolVersion {
		return fmt.Errorf("%w %d (this agent speaks %d)", errPayloadVersion, n, ProtocolVersion)
	}
	return nil
}

// DecodeDesired reads a desired-configuration message and checks it.
func DecodeDesired(b []byte) (Desired, error) {
	var d Desired
	if err := decode(b, MaxDesiredSize, &d, func() int { return d.V }); err != nil {
		return d, err
	}
	switch {
	case d.Version == 0:
		return d, errors.New("version must be a positive integer")
	case d.Version > 1<<53:
		return d, errors.New("version must be at most 2^53")
	case len(d.Config) > rollout.MaxDocSize:
		return d, fmt.Errorf("config is %d bytes, more than %d", len(d.Config), rollout.MaxDocSize)
	case d.SHA256 != "" && d.SHA256 != rollout.Hash([]byte(d.Config)):
		return d, errors.New("sha256 does not match the config text")
	}
	return d, nil
}

// DecodeRequest reads a command request and checks it.
func DecodeRequest(b []byte) (Request, error) {
	var c Request
	if err := decode(b, MaxCommandSize, &c, func() int { return c.V }); err != nil {
		return c, err
	}
	switch {
	case c.Name == "" || len(c.Name) > 64:
		return c, errors.New("name must be 1-64 characters")
	case c.Timeout < 0 || c.Timeout > MaxCommandTimeout.Seconds():
		return c, fmt.Errorf("timeout must be between 0 and %g seconds", MaxCommandTimeout.Seconds())
	}
	for i := 0; i < len(c.Name); i++ {
		if !isIDByte(c.Name[i]) {
			return c, errors.New("name must be letters, digits, '-', '_' and '.'")
		}
	}
	return c, nil
}

// DecodeState reads a presence message.
func DecodeState(b []byte) (State, error) {
	var s State
	err := decode(b, MaxCommandSize, &s, func() int { return s.V })
	if err == nil && s.Status != StatusOnline && s.Status != StatusOffline {
		err = fmt.Errorf("status must be online or offline, got %q", s.Status)
	}
	return s, err
}

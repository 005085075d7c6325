package mgmt

import (
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/tlspin"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// DefaultPrefix is the default root of the topic tree; the terminal id follows it.
const DefaultPrefix = "ssc/v1/terminals"

// Config is the "mgmt" section of the configuration file. The zero value of each field
// takes the default noted; an empty Brokers list turns terminal management off.
type Config struct {
	// Brokers are the MQTT broker URLs (tcp://host:1883, tls://host:8883), tried in
	// order. Empty: terminal management is off.
	Brokers []string `yaml:"brokers"`
	// ClientID is the MQTT client id. Default "sscagent-" + terminal id.
	ClientID string `yaml:"clientId"`
	// TopicPrefix roots the topic tree. Default "ssc/v1/terminals".
	TopicPrefix string `yaml:"topicPrefix"`
	// Username authenticates to the broker; empty sends none.
	Username string `yaml:"username"`
	// PasswordFile holds the broker password (mode 0600), read at every connect.
	PasswordFile config.SecretFile `yaml:"passwordFile"`
	// TLS is used for tls://, ssl:// and mqtts:// brokers.
	TLS TLS `yaml:"tls"`
	// AllowPlainTCP lets a production terminal (terminal.test false) use tcp:// or
	// mqtt:// brokers, unencrypted: whoever sets it says the network is a private one
	// (spec 8.2). The agent warns at every start. Test terminals need not set it.
	AllowPlainTCP bool `yaml:"allowPlainTCP"`
	// KeepAlive is the MQTT keepalive. Default 30s, between 5s and 20m.
	KeepAlive config.Duration `yaml:"keepAlive"`
	// ConnectTimeout bounds TCP, TLS and CONNACK for one broker. Default 10s.
	ConnectTimeout config.Duration `yaml:"connectTimeout"`
	// TelemetryInterval is the period of telemetry messages. Default 30s, 1s to 1h.
	TelemetryInterval config.Duration `yaml:"telemetryInterval"`
	// CommandTimeout is a command's time limit when the command names none. Default
	// 30s; a command may ask for up to 10m.
	CommandTimeout config.Duration `yaml:"commandTimeout"`
	// HealthGate bounds the health check after a remote configuration is applied.
	HealthGate HealthGate `yaml:"healthGate"`
	// Reconnect shapes the delays between connection attempts.
	Reconnect Reconnect `yaml:"reconnect"`
	// Buffer bounds what is kept while the broker cannot be reached.
	Buffer Buffer `yaml:"buffer"`
	// Events are glob patterns of event kinds forwarded to the events topic. Default
	// ["*"]: every event (they are masked at the source).
	Events []string `yaml:"events"`
	// ManagerKeys are the manager public keys (PEM, SM2 or Ed25519) whose signatures
	// the terminal accepts on configuration documents and commands (docs/mgmt-protocol.md
	// §10.1): one, or two during a rotation. A remote document cannot change them. None:
	// a test terminal (terminal.test) accepts unsigned messages with a warning at start;
	// any other terminal refuses every configuration document and command.
	ManagerKeys []string `yaml:"managerKeys"`
	// MaxClockSkew is how far the manager's and the terminal's clocks may differ when a
	// signed message's issuedAt and expiresAt are checked. Default 5m, at most 1h.
	MaxClockSkew config.Duration `yaml:"maxClockSkew"`
}

// MaxManagerKeys bounds mgmt.managerKeys: the key in use and its successor.
const MaxManagerKeys = 2

// TLS is the "tls" block of the mgmt section.
type TLS struct {
	// CAFile is the PEM bundle of CAs that sign the broker's certificate; empty uses
	// the system roots.
	CAFile string `yaml:"caFile"`
	// CertFile is this terminal's client certificate (PEM), for brokers that
	// authenticate clients by certificate; empty sends none.
	CertFile string `yaml:"certFile"`
	// KeyFile is the client certificate's private key (PEM, mode 0600).
	KeyFile config.SecretFile `yaml:"keyFile"`
	// ServerName overrides the name checked in the broker's certificate. Default: the
	// broker URL's host.
	ServerName string `yaml:"serverName"`
	// PinSPKI lists SHA-256 hashes of public keys (SubjectPublicKeyInfo, base64 or hex)
	// the broker's verified chain must carry one of, checked on every connection.
	// Empty: no pinning.
	PinSPKI []string `yaml:"pinSPKI"`
}

// HealthGate is the "healthGate" block: after a remote configuration is applied the
// terminal must pass its health check (readers, PSAM, platform reachable) within Window,
// probed every Interval, or the configuration is rolled back.
type HealthGate struct {
	// Window is the time allowed. Default 2m, between 5s and 30m.
	Window config.Duration `yaml:"window"`
	// Interval is the pause between probes. Default 5s, less than window.
	Interval config.Duration `yaml:"interval"`
}

// Reconnect is the "reconnect" block.
type Reconnect struct {
	// FirstDelayMax: after a connection is lost, the first attempt waits a random time
	// up to this, so terminals that lost the same broker do not return at once. Default
	// 10s, at most 10m.
	FirstDelayMax config.Duration `yaml:"firstDelayMax"`
	// Min is the first ceiling of the jittered exponential backoff between failed
	// attempts. Default 1s.
	Min config.Duration `yaml:"min"`
	// Max is the largest ceiling. Default 2m, at most 1h.
	Max config.Duration `yaml:"max"`
	// StableAfter: a connection that stayed up this long resets the backoff. Default 2m.
	StableAfter config.Duration `yaml:"stableAfter"`
}

// Buffer is the "buffer" block: messages kept while offline, oldest dropped first when
// full. Drops are counted and reported in telemetry.
type Buffer struct {
	// Events kept. Default 1000.
	Events int `yaml:"events"`
	// Telemetry samples kept. Default 10.
	Telemetry int `yaml:"telemetry"`
	// Results (command results and configuration reports) kept. Default 256.
	Results int `yaml:"results"`
}

// DefaultConfig returns the defaults (management off until brokers are set).
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// Enabled reports whether terminal management is configured.
func (c Config) Enabled() bool { return len(c.Brokers) > 0 }

// withDefaults fills every zero field with its default.
func (c Config) withDefaults() Config {
	def := func(d *config.Duration, v time.Duration) {
		if *d == 0 {
			*d = config.Duration(v)
		}
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultPrefix
	}
	def(&c.KeepAlive, 30*time.Second)
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.TelemetryInterval, 30*time.Second)
	def(&c.CommandTimeout, 30*time.Second)
	def(&c.HealthGate.Window, 2*time.Minute)
	def(&c.HealthGate.Interval, 5*time.Second)
	def(&c.Reconnect.FirstDelayMax, 10*time.Second)
	def(&c.Reconnect.Min, time.Second)
	def(&c.Reconnect.Max, 2*time.Minute)
	def(&c.Reconnect.StableAfter, 2*time.Minute)
	def(&c.MaxClockSkew, 5*time.Minute)
	if c.Buffer.Events == 0 {
		c.Buffer.Events = 1000
	}
	if c.Buffer.Telemetry == 0 {
		c.Buffer.Telemetry = 10
	}
	if c.Buffer.Results == 0 {
		c.Buffer.Results = 256
	}
	if c.Events == nil {
		c.Events = []string{"*"}
	}
	return c
}

// MaxCommandTimeout is the longest time limit a command may ask for.
const MaxCommandTimeout = 10 * time.Minute

// Validate implements config.Validator.
func (c Config) Validate(p string, ps *config.Problems) {
	at := func(f string) string { return config.Join(p, f) }
	tlsBroker := false
	for i, b := range c.Brokers {
		if err := mqttc.CheckURL(b); err != nil {
			ps.Addf(config.Index(at("brokers"), i), "%v, got %q", err, b)
		} else if u, _ := url.Parse(b); mqttc.IsTLS(u.Scheme) {
			tlsBroker = true
		}
	}
	if c.ClientID != "" && (len(c.ClientID) > 128 || strings.ContainsAny(c.ClientID, "+#/\x00")) {
		ps.Addf(at("clientId"), "must be at most 128 characters without '+', '#', '/', got %q", c.ClientID)
	}
	if err := CheckPrefix(c.TopicPrefix); err != nil {
		ps.Addf(at("topicPrefix"), "%v, got %q", err, c.TopicPrefix)
	}
	if c.PasswordFile != "" && c.Username == "" {
		ps.Addf(at("passwordFile"), "set without a username")
	}
	t := c.TLS
	tlspin.Validate(at("tls.pinSPKI"), t.PinSPKI, ps)
	if (t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || len(t.PinSPKI) > 0) && len(c.Brokers) > 0 && !tlsBroker {
		ps.Addf(at("tls"), "set, but no broker uses tls:// (or ssl://, mqtts://)")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		ps.Addf(at("tls"), "certFile and keyFile go together")
	}
	dur := func(f string, d config.Duration, lo, hi time.Duration) {
		if d.D() < lo || d.D() > hi {
			ps.Addf(at(f), "must be between %s and %s, got %s", lo, hi, d)
		}
	}
	dur("keepAlive", c.KeepAlive, 5*time.Second, 20*time.Minute)
	dur("connectTimeout", c.ConnectTimeout, time.Second, 2*time.Minute)
	dur("telemetryInterval", c.TelemetryInterval, time.Second, time.Hour)
	dur("commandTimeout", c.CommandTimeout, time.Second, MaxCommandTimeout)
	dur("healthGate.window", c.HealthGate.Window, 5*time.Second, 30*time.Minute)
	if c.HealthGate.Interval.D() < 100*time.Millisecond || c.HealthGate.Interval >= c.HealthGate.Window {
		ps.Addf(at("healthGate.interval"), "must be at least 100ms and less than window (%s), got %s", c.HealthGate.Window, c.HealthGate.Interval)
	}
	dur("reconnect.firstDelayMax", c.Reconnect.FirstDelayMax, 0, 10*time.Minute)
	dur("reconnect.min", c.Reconnect.Min, 10*time.Millisecond, time.Minute)
	dur("reconnect.max", c.Reconnect.Max, c.Reconnect.Min.D(), time.Hour)
	dur("reconnect.stableAfter", c.Reconnect.StableAfter, time.Second, time.Hour)
	count := func(f string, n, lo, hi int) {
		if n < lo || n > hi {
			ps.Addf(at(f), "must be between %d and %d, got %d", lo, hi, n)
		}
	}
	count("buffer.events", c.Buffer.Events, 1, 100000)
	count("buffer.telemetry", c.Buffer.Telemetry, 1, 1000)
	count("buffer.results", c.Buffer.Results, 16, 10000)
	for i, e := range c.Events {
		if _, err := path.Match(e, ""); err != nil || e == "" {
			ps.Addf(config.Index(at("events"), i), "bad pattern %q", e)
		}
	}
	if len(c.ManagerKeys) > MaxManagerKeys {
		ps.Addf(at("managerKeys"), "at most %d keys (the one in use and its successor during a rotation), got %d", MaxManagerKeys, len(c.ManagerKeys))
	}
	for i, k := range c.ManagerKeys {
		if k == "" {
			ps.Addf(config.Index(at("managerKeys"), i), "empty path")
		}
	}
	dur("maxClockSkew", c.MaxClockSkew, 0, time.Hour)
}

// PlainBrokers returns the brokers reached without TLS (tcp://, mqtt://).
func (c Config) PlainBrokers() []string {
	var out []string
	for _, b := range c.Brokers {
		if u, err := url.Parse(b); err == nil && !mqttc.IsTLS(u.Scheme) {
			out = append(out, b)
		}
	}
	return out
}

// Resolve rewrites the section's file paths with abs, which the agent uses to make
// relative paths absolute against the configuration file's directory.
func (c *Config) Resolve(abs func(string) string) {
	c.PasswordFile = c.PasswordFile.Resolve(abs)
	c.TLS.CAFile = abs(c.TLS.CAFile)
	c.TLS.CertFile = abs(c.TLS.CertFile)
	c.TLS.KeyFile = c.TLS.KeyFile.Resolve(abs)
	if c.ManagerKeys != nil {
		keys := make([]string, len(c.ManagerKeys))
		for i, k := range c.ManagerKeys {
			keys[i] = abs(k)
		}
		c.ManagerKeys = keys
	}
}

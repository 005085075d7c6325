package agent

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/agent/metrics"
	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/internal/terminal"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
)

// SchemaVersion is the configuration file format this build reads.
const SchemaVersion = 1

// Config is the whole configuration file: one typed tree whose sections are owned and
// validated by the packages that use them. packaging/sscagent.example.yaml documents
// every field.
type Config struct {
	// Version is the file format version; this build reads 1.
	Version int `yaml:"version"`
	// Terminal is the terminal's registered identity.
	Terminal terminal.Identity `yaml:"terminal"`
	// Agent holds the daemon's own settings.
	Agent Daemon `yaml:"agent"`
	// Log selects level and format.
	Log logging.Config `yaml:"log"`
	// Platform is the one-card-pass application platform connection.
	Platform platform.Config `yaml:"platform"`
	// Scanners are the QR scanners attached to the terminal.
	Scanners qrscan.Configs `yaml:"scanners"`
	// Scenes say what a read means on this terminal and which inputs each scene takes.
	Scenes []Scene `yaml:"scenes"`
	// LocalAPI is the loopback API for the kiosk, gate and POS applications.
	LocalAPI localapi.Config `yaml:"localapi"`
	// Mgmt is the MQTT session with terminal management (docs/mgmt-protocol.md).
	Mgmt mgmt.Config `yaml:"mgmt"`
	// Queue is the durable record queue in the state directory (docs/queue.md).
	Queue queue.Config `yaml:"queue"`
	// Backflow is the uploader that flows queued records back to the platform.
	Backflow backflow.Config `yaml:"backflow"`
	// Payment holds the timings of the e-card payment closed loop.
	Payment payment.Config `yaml:"payment"`
	// Cards are the card readers, the PSAM and card authentication (docs/card.md).
	Cards readers.Config `yaml:"cards"`
	// Records are the site details written into the records the agent makes.
	Records RecordsConfig `yaml:"records"`
	// Metrics serves Prometheus metrics (docs/metrics.md); off unless listen is set.
	Metrics metrics.Config `yaml:"metrics"`
	// Upgrade holds the pinned release keys and limits of software updates from the
	// fleet (docs/deploy.md). Only the file sets it: a remote configuration cannot.
	Upgrade upgrade.Config `yaml:"upgrade"`
}

// Daemon is the "agent" section: lifecycle settings of the daemon itself.
type Daemon struct {
	// StateDir holds the durable state (queue, payments, last-known-good config).
	StateDir string `yaml:"stateDir"`
	// ShutdownTimeout bounds a clean stop; after it the process exits anyway. Default 10s.
	ShutdownTimeout config.Duration `yaml:"shutdownTimeout"`
	// RestartBackoffMax caps the delay before a failed part is restarted. Default 30s.
	RestartBackoffMax config.Duration `yaml:"restartBackoffMax"`
	// MedicalRetention is how long an ended medical settlement (its journal entry holds
	// the holder's id number and name) is kept; pending ones, and debited ones whose
	// record is not queued, stay until they are. Default 720h (30 days), 1h to 43800h.
	MedicalRetention config.Duration `yaml:"medicalRetention"`
}

// DefaultConfig returns a configuration holding every default; loading a file overlays it.
func DefaultConfig() Config {
	return Config{
		Version: SchemaVersion,
		Agent: Daemon{
			StateDir:          defaultStateDir(),
			ShutdownTimeout:   config.Duration(10e9),
			RestartBackoffMax: config.Duration(30e9),
			MedicalRetention:  config.Duration(30 * 24 * time.Hour),
		},
		Log:      logging.DefaultConfig(),
		Platform: platform.DefaultConfig(),
		LocalAPI: localapi.DefaultConfig(),
		Mgmt:     mgmt.DefaultConfig(),
		Queue:    queue.DefaultConfig(),
		Backflow: backflow.DefaultConfig(),
		Payment:  payment.DefaultConfig(),
		Cards:    readers.DefaultConfig(),
		Upgrade:  upgrade.DefaultConfig(),
	}
}

// Validate checks every section and returns all problems at once (*config.Error).
func (c Config) Validate() error {
	var ps config.Problems
	if c.Version != SchemaVersion {
		ps.Addf("version", "must be %d, got %d", SchemaVersion, c.Version)
	}
	c.Terminal.Validate("terminal", &ps)
	c.Agent.Validate("agent", &ps)
	c.Log.Validate("log", &ps)
	c.Platform.Validate("platform", &ps)
	c.Scanners.Validate("scanners", &ps)
	names := make([]string, len(c.Scanners))
	for i, sc := range c.Scanners {
		names[i] = sc.Name
	}
	validateScenes(c.Scenes, names, &ps)
	c.LocalAPI.Validate("localapi", &ps)
	c.Mgmt.Validate("mgmt", &ps)
	c.Queue.Validate("queue", &ps)
	c.Backflow.Validate("backflow", &ps)
	c.Payment.Validate("payment", &ps)
	c.Cards.Validate("cards", &ps)
	c.Records.Validate("records", c.Terminal.CreditCode, &ps)
	c.Metrics.Validate("metrics", &ps)
	c.Upgrade.Validate("upgrade", &ps)
	config.CheckSecrets(c, &ps)
	if c.Cards.Driver == readers.DriverSim && !c.Terminal.Test {
		ps.Addf("cards.driver", "sim holds the sandbox's test cards: it needs terminal.test: true")
	}
	c.validateTransport(&ps)
	return ps.Err()
}

// validateTransport refuses unencrypted links on a production terminal unless the
// configuration says the network allows them (spec 8.2: HTTP on a government private
// network).
func (c Config) validateTransport(ps *config.Problems) {
	if c.Terminal.Test {
		return
	}
	if c.Platform.PlainHTTP() && !c.Platform.AllowPlainHTTP {
		ps.Addf("platform.baseURL", "http:// on a production terminal (terminal.test false) sends unencrypted: use https://, "+
			"or set platform.allowPlainHTTP: true if this is a government private network (spec 8.2)")
	}
	if plain := c.Mgmt.PlainBrokers(); len(plain) > 0 && !c.Mgmt.AllowPlainTCP {
		ps.Addf("mgmt.brokers", "%s on a production terminal (terminal.test false) is unencrypted: use tls://, "+
			"or set mgmt.allowPlainTCP: true if this is a private network", strings.Join(plain, ", "))
	}
}

// transportWarnings are the start-up warnings of unencrypted links a production
// terminal was told to accept.
func (c Config) transportWarnings() []string {
	if c.Terminal.Test {
		return nil
	}
	var w []string
	if c.Platform.PlainHTTP() && c.Platform.AllowPlainHTTP {
		w = append(w, "platform.allowPlainHTTP: the platform is reached over plain HTTP (unencrypted); only on a government private network")
	}
	if plain := c.Mgmt.PlainBrokers(); len(plain) > 0 && c.Mgmt.AllowPlainTCP {
		w = append(w, "mgmt.allowPlainTCP: terminal management is reached without TLS ("+strings.Join(plain, ", ")+"); only on a private network")
	}
	return w
}

// withDefaults returns c with the defaults of list items (scenes) filled in, which the
// decoder cannot take from DefaultConfig.
func (c Config) withDefaults() Config {
	sc := make([]Scene, len(c.Scenes))
	for i, s := range c.Scenes {
		sc[i] = s.withDefaults(c.Platform.ApplicationNo)
	}
	c.Scenes = sc
	return c
}

// Validate implements config.Validator.
func (d Daemon) Validate(path string, ps *config.Problems) {
	if d.StateDir == "" {
		ps.Addf(config.Join(path, "stateDir"), "required")
	} else if !filepath.IsAbs(d.StateDir) {
		ps.Addf(config.Join(path, "stateDir"), "must be an absolute path, got %q", d.StateDir)
	}
	if t := d.ShutdownTimeout.D(); t < 1e9 || t > 300e9 {
		ps.Addf(config.Join(path, "shutdownTimeout"), "must be between 1s and 5m, got %s", d.ShutdownTimeout)
	}
	if t := d.RestartBackoffMax.D(); t < 1e9 || t > 3600e9 {
		ps.Addf(config.Join(path, "restartBackoffMax"), "must be between 1s and 1h, got %s", d.RestartBackoffMax)
	}
	if t := d.MedicalRetention.D(); t < time.Hour || t > 5*365*24*time.Hour {
		ps.Addf(config.Join(path, "medicalRetention"), "must be between 1h and 43800h, got %s", d.MedicalRetention)
	}
}

// LoadConfig reads and validates the file at path over the defaults. Decoding problems
// (unknown keys, wrong types) and validation problems are reported together.
func LoadConfig(path string) (Config, error) { return LoadConfigOverlay(path, nil) }

// resolvePaths makes file references relative to the configuration file's directory,
// so a config and its keys can be moved together.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Agent.StateDir = abs(c.Agent.StateDir)
	c.Log.File = abs(c.Log.File)
	c.Platform.PrivateKey = c.Platform.PrivateKey.Resolve(abs)
	c.Platform.PlatformPublicKey = abs(c.Platform.PlatformPublicKey)
	c.Platform.SM4Key = c.Platform.SM4Key.Resolve(abs)
	c.Platform.CAFile = abs(c.Platform.CAFile)
	c.Platform.ClientCert = abs(c.Platform.ClientCert)
	c.Platform.ClientKey = c.Platform.ClientKey.Resolve(abs)
	if _, builtin := protocol.BuiltinProfile(c.Platform.Profile); !builtin {
		c.Platform.Profile = abs(c.Platform.Profile)
	}
	c.LocalAPI.TokenFile = c.LocalAPI.TokenFile.Resolve(abs)
	c.Mgmt.Resolve(abs)
	c.Queue.KeyFile = c.Queue.KeyFile.Resolve(abs)
	c.Queue.KeySecret = c.Queue.KeySecret.Resolve(abs)
	c.Cards.Resolve(abs)
	c.Upgrade.Resolve(abs)
	for i := range c.Scenes {
		g := &c.Scenes[i].Gate
		g.HTTP.TokenFile = g.HTTP.TokenFile.Resolve(abs)
	}
}

package agent

import (
	"errors"
	"path/filepath"

	"github.com/sscagent/sscagent/config"
	"github.com/sscagent/sscagent/localapi"
	"github.com/sscagent/sscagent/logging"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/terminal"
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
}

// Daemon is the "agent" section: lifecycle settings of the daemon itself.
type Daemon struct {
	// StateDir holds the durable state (queue, payments, last-known-good config).
	StateDir string `yaml:"stateDir"`
	// ShutdownTimeout bounds a clean stop; after it the process exits anyway. Default 10s.
	ShutdownTimeout config.Duration `yaml:"shutdownTimeout"`
	// RestartBackoffMax caps the delay before a failed part is restarted. Default 30s.
	RestartBackoffMax config.Duration `yaml:"restartBackoffMax"`
}

// DefaultConfig returns a configuration holding every default; loading a file overlays it.
func DefaultConfig() Config {
	return Config{
		Version: SchemaVersion,
		Agent: Daemon{
			StateDir:          defaultStateDir(),
			ShutdownTimeout:   config.Duration(10e9),
			RestartBackoffMax: config.Duration(30e9),
		},
		Log:      logging.DefaultConfig(),
		Platform: platform.DefaultConfig(),
		LocalAPI: localapi.DefaultConfig(),
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
	validateScenes(c.Scenes, &ps)
	c.LocalAPI.Validate("localapi", &ps)
	return ps.Err()
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
}

// LoadConfig reads and validates the file at path over the defaults. Decoding problems
// (unknown keys, wrong types) and validation problems are reported together.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, err
	}
	derr := config.LoadFile(abs, &c)
	var decoded *config.Error
	if derr != nil && (!errors.As(derr, &decoded) || decoded.Syntax()) {
		return c, derr // nothing sensible was decoded
	}
	c.resolvePaths(filepath.Dir(abs))
	verr := c.Validate()
	if decoded == nil {
		return c, verr
	}
	var validated *config.Error
	if errors.As(verr, &validated) {
		decoded.Problems = append(decoded.Problems, validated.Problems...)
	}
	return c, decoded
}

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
	c.Platform.PrivateKey = config.SecretFile(abs(string(c.Platform.PrivateKey)))
	c.Platform.PlatformPublicKey = abs(c.Platform.PlatformPublicKey)
	c.Platform.SM4Key = config.SecretFile(abs(string(c.Platform.SM4Key)))
	c.LocalAPI.TokenFile = config.SecretFile(abs(string(c.LocalAPI.TokenFile)))
	for i := range c.Scenes {
		g := &c.Scenes[i].Gate
		g.HTTP.TokenFile = config.SecretFile(abs(string(g.HTTP.TokenFile)))
	}
}

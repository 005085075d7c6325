package upgrade

import (
	"fmt"
	"os"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/signing"
)

// Config is the "upgrade" section. It is read from the configuration file only: a
// remote configuration that sets it is refused, so a manager key cannot replace the
// release keys.
type Config struct {
	// ReleaseKeys are the pinned release public keys (PEM files, two during a
	// rotation). Empty: the upgrade command is refused.
	ReleaseKeys []string `yaml:"releaseKeys"`
	// CAFile is the PEM bundle of the CAs that sign the download server's certificate;
	// empty: the system roots.
	CAFile string `yaml:"caFile"`
	// MaxBytes bounds an artifact. Default 256 MiB.
	MaxBytes int64 `yaml:"maxBytes"`
	// DownloadTimeout bounds the download, connect to last byte. Default 10m.
	DownloadTimeout config.Duration `yaml:"downloadTimeout"`
	// HealthWindow is how long a new build has to report healthy (every part up and
	// terminal management connected), in its trial and after the swap. Default 2m.
	HealthWindow config.Duration `yaml:"healthWindow"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxBytes: 256 << 20, DownloadTimeout: config.Duration(10 * time.Minute), HealthWindow: config.Duration(2 * time.Minute)}
}

// Validate implements the agent's section check.
func (c Config) Validate(path string, ps *config.Problems) {
	at := func(f string) string { return config.Join(path, f) }
	for i, k := range c.ReleaseKeys {
		if k == "" {
			ps.Addf(config.Index(at("releaseKeys"), i), "empty path")
		}
	}
	if c.MaxBytes < 1<<20 || c.MaxBytes > 4<<30 {
		ps.Addf(at("maxBytes"), "must be between 1 MiB and 4 GiB, got %d", c.MaxBytes)
	}
	if d := c.DownloadTimeout.D(); d < 10*time.Second || d > time.Hour {
		ps.Addf(at("downloadTimeout"), "must be between 10s and 1h, got %s", c.DownloadTimeout)
	}
	if d := c.HealthWindow.D(); d < 5*time.Second || d > 30*time.Minute {
		ps.Addf(at("healthWindow"), "must be between 5s and 30m, got %s", c.HealthWindow)
	}
}

// Resolve makes the file references absolute with abs.
func (c *Config) Resolve(abs func(string) string) {
	keys := make([]string, len(c.ReleaseKeys))
	for i, k := range c.ReleaseKeys {
		keys[i] = abs(k)
	}
	if c.ReleaseKeys != nil {
		c.ReleaseKeys = keys
	}
	c.CAFile = abs(c.CAFile)
}

// Keyring reads the pinned release keys.
func (c Config) Keyring() (signing.Keyring, error) {
	var ring signing.Keyring
	for _, p := range c.ReleaseKeys {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("upgrade.releaseKeys: %w", err)
		}
		k, err := signing.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("upgrade.releaseKeys: %s: %w", p, err)
		}
		ring = append(ring, k)
	}
	return ring, nil
}

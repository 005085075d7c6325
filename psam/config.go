package psam

import (
	"encoding/hex"
	"slices"
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// KeyRef names a key in the PSAM: its type (the low five bits of the usage byte) and
// key id. The number of diversification levels is added to the usage byte at run time.
type KeyRef struct {
	// Type is the key type, 1-31 (7: encryption key).
	Type int `yaml:"type"`
	// ID is the key id, two hex digits.
	ID string `yaml:"id"`
}

func (k KeyRef) typ() byte { return byte(k.Type) }

func (k KeyRef) id() byte {
	b, _ := hex.DecodeString(k.ID)
	if len(b) != 1 {
		return 0
	}
	return b[0]
}

// Validate implements config.Validator.
func (k KeyRef) Validate(path string, ps *config.Problems) {
	if k.Type < 1 || k.Type > 31 {
		ps.Addf(config.Join(path, "type"), "must be 1-31, got %d", k.Type)
	}
	if b, err := hex.DecodeString(k.ID); err != nil || len(b) != 1 {
		ps.Addf(config.Join(path, "id"), "must be two hex digits, got %q", k.ID)
	}
}

// Config is the "psam" part of the cards section: which keys the PSAM holds and how to
// use them. The zero value means the defaults.
type Config struct {
	// IRK is the internal authentication key (card key id 00; PSAM spec Appendix B
	// national usage 67, id 08). Default type 7, id 08.
	IRK KeyRef `yaml:"irk"`
	// RK is the RKSSSE key of gen-3 cards (card key id 0A). Default type 7, id 0A.
	RK KeyRef `yaml:"rk"`
	// Levels are the diversification levels tried, in order, until the PSAM accepts
	// one (3: national root, 2: provincial, 1: city). Default [3, 2, 1].
	Levels []int `yaml:"levels"`
	// InitEnvironment sends INITIALIZE ENVIRONMENT (BF EC) with the first byte of the
	// 卡识别码 before each card, for PSAMs that require it. Default false.
	InitEnvironment bool `yaml:"initEnvironment"`
}

// DefaultConfig returns the default key references and levels.
func DefaultConfig() Config {
	return Config{IRK: KeyRef{Type: 7, ID: "08"}, RK: KeyRef{Type: 7, ID: "0A"}, Levels: []int{3, 2, 1}}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.IRK == (KeyRef{}) {
		c.IRK = d.IRK
	}
	if c.RK == (KeyRef{}) {
		c.RK = d.RK
	}
	if len(c.Levels) == 0 {
		c.Levels = d.Levels
	}
	return c
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	c = c.withDefaults()
	c.IRK.Validate(config.Join(path, "irk"), ps)
	c.RK.Validate(config.Join(path, "rk"), ps)
	for i, l := range c.Levels {
		if l < 1 || l > 3 {
			ps.Addf(config.Index(config.Join(path, "levels"), i), "must be 1, 2 or 3, got %d", l)
		} else if slices.Index(c.Levels, l) != i {
			ps.Addf(config.Index(config.Join(path, "levels"), i), "%d is listed twice", l)
		}
	}
}

// HSMConfig is the "hsm" part of the cards section: the national two-step through the
// platform's card internal-auth service, used without a PSAM or when the PSAM cannot
// authenticate the card (-2201, -2202, -2203, 6A88, -24).
type HSMConfig struct {
	// Enabled allows the HSM two-step. Default true.
	Enabled bool `yaml:"enabled"`
	// Timeout bounds one exchange from Step 1 to Step 2 (the card stays powered and
	// selected meanwhile). Default 10s.
	Timeout config.Duration `yaml:"timeout"`
	// Attempts is how many times a read starts over from Step 1 when the exchange
	// expires (fresh challenges each time). Default 2.
	Attempts int `yaml:"attempts"`
}

// DefaultHSMConfig returns the defaults.
func DefaultHSMConfig() HSMConfig {
	return HSMConfig{Enabled: true, Timeout: config.Duration(10 * time.Second), Attempts: 2}
}

// Validate implements config.Validator.
func (c HSMConfig) Validate(path string, ps *config.Problems) {
	if t := c.Timeout.D(); t < time.Second || t > 2*time.Minute {
		ps.Addf(config.Join(path, "timeout"), "must be between 1s and 2m, got %s", c.Timeout)
	}
	if c.Attempts < 1 || c.Attempts > 5 {
		ps.Addf(config.Join(path, "attempts"), "must be 1-5, got %d", c.Attempts)
	}
}

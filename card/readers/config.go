package readers

import (
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/psam"
)

// Drivers.
const (
	DriverPCSC = "pcsc" // PC/SC: pcscd on Linux, the smart card service on Windows
	DriverSim  = "sim"  // in-process virtual readers with the sandbox's cards (test terminals only)
)

// Preference is the national iType: which interface a read uses when a card could be
// read either way.
type Preference string

// Preferences (iType 1-4).
const (
	PreferContact          Preference = "contact"           // 1: contact readers only
	PreferContactless      Preference = "contactless"       // 2: contactless readers only
	PreferContactFirst     Preference = "contact-first"     // 3: either, contact first
	PreferContactlessFirst Preference = "contactless-first" // 4: either, contactless first
)

// Preferences lists the valid values in iType order.
var Preferences = []Preference{PreferContact, PreferContactless, PreferContactFirst, PreferContactlessFirst}

// IType is the national iType number of the preference (1-4), 0 if invalid.
func (p Preference) IType() int { return slices.Index(Preferences, p) + 1 }

// Roles assigns roles to readers by name. Patterns are globs ("*", "?", "[...]"),
// matched without regard to case.
type Roles struct {
	// Holder are the readers that take holders' cards. Default ["*"]: every reader
	// that is not a PSAM slot.
	Holder []string `yaml:"holder"`
	// PSAM are the PSAM slots; a reader matching both lists is a PSAM slot. Default
	// ["*SAM*"].
	PSAM []string `yaml:"psam"`
	// Contactless are the holder readers that read contactless (非接触) cards; the
	// others are contact readers. Default ["*PICC*", "*contactless*", "*-CL*", "* CL *"].
	Contactless []string `yaml:"contactless"`
}

// SimConfig is the virtual hardware of driver "sim".
type SimConfig struct {
	// Cards are the virtual cards, by shipped profile name (zhangsan, lisi, zhaoliu,
	// bankcard) or profile file; the first is inserted at start. Default [zhangsan].
	Cards []string `yaml:"cards"`
	// PSAM inserts a virtual PSAM. Default true.
	PSAM bool `yaml:"psam"`
	// Readers is the number of virtual holder readers, 1-4 (default 1): "Virtual Card
	// Reader 00 00", "Virtual Card Reader 01 00", ... so that two scenes can each own
	// one (the demo's gate and its pharmacy's medical settlement).
	Readers int `yaml:"readers"`
}

// Config is the "cards" section: card readers, the PSAM and card authentication.
type Config struct {
	// Driver is pcsc (default) or sim (test terminals only: the demo without pcscd).
	Driver string `yaml:"driver"`
	// Readers assigns reader roles by name.
	Readers Roles `yaml:"readers"`
	// Prefer is contact, contactless, contact-first (default) or contactless-first (the
	// national iType 1-4).
	Prefer Preference `yaml:"prefer"`
	// ReadTimeout bounds one card read, HSM exchange included. Default 20s.
	ReadTimeout config.Duration `yaml:"readTimeout"`
	// DeviceNo is the 终端设备号 reported in the 11th field of iReadCardBas and the HSM
	// Step 1 string: up to 32 letters and digits. Default empty.
	DeviceNo string `yaml:"deviceNo"`
	// PSAM says which keys the PSAM holds.
	PSAM psam.Config `yaml:"psam"`
	// HSM is the national two-step through the platform when the PSAM cannot
	// authenticate a card.
	HSM psam.HSMConfig `yaml:"hsm"`
	// Sim is the virtual hardware of driver sim.
	Sim SimConfig `yaml:"sim"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Driver: DriverPCSC,
		Readers: Roles{
			Holder:      []string{"*"},
			PSAM:        []string{"*SAM*"},
			Contactless: []string{"*PICC*", "*contactless*", "*-CL*", "* CL *"},
		},
		Prefer:      PreferContactFirst,
		ReadTimeout: config.Duration(20 * time.Second),
		PSAM:        psam.DefaultConfig(),
		HSM:         psam.DefaultHSMConfig(),
		Sim:         SimConfig{Cards: []string{"zhangsan"}, PSAM: true, Readers: 1},
	}
}

// Validate implements config.Validator.
func (c Config) Validate(p string, ps *config.Problems) {
	j := func(f string) string { return config.Join(p, f) }
	if c.Driver != DriverPCSC && c.Driver != DriverSim {
		ps.Addf(j("driver"), "must be pcsc or sim, got %q", c.Driver)
	}
	for _, l := range []struct {
		name string
		v    []string
	}{{"readers.holder", c.Readers.Holder}, {"readers.psam", c.Readers.PSAM}, {"readers.contactless", c.Readers.Contactless}} {
		for i, pat := range l.v {
			if _, err := path.Match(strings.ToLower(pat), ""); err != nil || pat == "" {
				ps.Addf(config.Index(j(l.name), i), "bad pattern %q", pat)
			}
		}
	}
	if len(c.Readers.Holder) == 0 {
		ps.Addf(j("readers.holder"), "at least one pattern is required (\"*\" for every reader)")
	}
	if c.Prefer.IType() == 0 {
		ps.Addf(j("prefer"), "must be contact, contactless, contact-first or contactless-first, got %q", c.Prefer)
	}
	if t := c.ReadTimeout.D(); t < time.Second || t > 5*time.Minute {
		ps.Addf(j("readTimeout"), "must be between 1s and 5m, got %s", c.ReadTimeout)
	}
	if n := utf8.RuneCountInString(c.DeviceNo); n > 32 || strings.ContainsAny(c.DeviceNo, "|\r\n") {
		ps.Addf(j("deviceNo"), "must be at most 32 characters without '|', got %q", c.DeviceNo)
	}
	c.PSAM.Validate(j("psam"), ps)
	c.HSM.Validate(j("hsm"), ps)
	if c.Driver == DriverSim && len(c.Sim.Cards) == 0 {
		ps.Addf(j("sim.cards"), "driver sim needs at least one virtual card")
	}
	for i, name := range c.Sim.Cards {
		if name == "" {
			ps.Addf(config.Index(j("sim.cards"), i), "empty profile name")
		}
	}
	if c.Sim.Readers < 0 || c.Sim.Readers > maxSimReaders {
		ps.Addf(j("sim.readers"), "must be between 1 and %d holder readers, got %d", maxSimReaders, c.Sim.Readers)
	}
	if c.HSM.Timeout.D() >= c.ReadTimeout.D() && c.HSM.Enabled {
		ps.Addf(j("hsm.timeout"), "must be shorter than readTimeout (%s), got %s", c.ReadTimeout, c.HSM.Timeout)
	}
}

// match reports whether name matches one of the patterns, ignoring case.
func match(patterns []string, name string) bool {
	n := strings.ToLower(name)
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), n); ok {
			return true
		}
	}
	return false
}

// Role is what a reader is used for.
type Role string

// Roles.
const (
	RoleHolder Role = "holder" // holders' cards
	RolePSAM   Role = "psam"   // the PSAM slot
	RoleNone   Role = ""       // matched by no pattern: ignored
)

// RoleOf returns the role configuration gives a reader name.
func (c Config) RoleOf(name string) Role {
	switch {
	case match(c.Readers.PSAM, name):
		return RolePSAM
	case match(c.Readers.Holder, name):
		return RoleHolder
	}
	return RoleNone
}

// Contactless reports whether configuration marks a reader as contactless.
func (c Config) Contactless(name string) bool { return match(c.Readers.Contactless, name) }

// Resolve makes the profile files of sim.cards absolute with abs (relative to the
// configuration file); shipped profile names are left alone.
func (c *Config) Resolve(abs func(string) string) {
	for i, name := range c.Sim.Cards {
		if strings.ContainsAny(name, `/\.`) {
			c.Sim.Cards[i] = abs(name)
		}
	}
}

package payment

import (
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// Config is the "payment" section of the configuration file. The defaults are the
// one-card-pass platform's rules (docs/queue.md); a platform with WeChat-style rules
// needs minReverseDelay: 15s.
type Config struct {
	// CallTimeout bounds one pay, query or reverse call. Default 10s.
	CallTimeout config.Duration `yaml:"callTimeout"`
	// QueryDelay is the wait after an unknown outcome before the first query. Default 2s.
	QueryDelay config.Duration `yaml:"queryDelay"`
	// QueryInterval is the wait between queries. Default 3s.
	QueryInterval config.Duration `yaml:"queryInterval"`
	// QueryFor is how long after sending the code the outcome is queried before the
	// order is reversed. Default 45s.
	QueryFor config.Duration `yaml:"queryFor"`
	// ReverseInterval is the wait between reverse attempts. Default 2s.
	ReverseInterval config.Duration `yaml:"reverseInterval"`
	// ReverseAttempts is how many reverse calls are made before the order needs a
	// person (NEEDS_MANUAL). Default 5.
	ReverseAttempts int `yaml:"reverseAttempts"`
	// MinReverseDelay is the least time between sending the code and the first reverse
	// call. Default 0s (WeChat Pay requires 15s).
	MinReverseDelay config.Duration `yaml:"minReverseDelay"`
	// Retention is how long final orders (and the hashes of their codes) are kept.
	// Default 720h (30 days).
	Retention config.Duration `yaml:"retention"`
	// LockTimeout bounds the wait for the payment file's lock at start. Default 5s.
	LockTimeout config.Duration `yaml:"lockTimeout"`
}

// FileName is the payment file's name in the state directory.
const FileName = "payments.db"

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		CallTimeout:     config.Duration(10 * time.Second),
		QueryDelay:      config.Duration(2 * time.Second),
		QueryInterval:   config.Duration(3 * time.Second),
		QueryFor:        config.Duration(45 * time.Second),
		ReverseInterval: config.Duration(2 * time.Second),
		ReverseAttempts: 5,
		Retention:       config.Duration(30 * 24 * time.Hour),
		LockTimeout:     config.Duration(5 * time.Second),
	}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	between := func(f string, d config.Duration, lo, hi time.Duration) {
		if d.D() < lo || d.D() > hi {
			ps.Addf(p(f), "must be between %s and %s, got %s", lo, hi, d)
		}
	}
	between("callTimeout", c.CallTimeout, 10*time.Millisecond, 2*time.Minute)
	between("queryDelay", c.QueryDelay, 0, time.Minute)
	between("queryInterval", c.QueryInterval, 10*time.Millisecond, time.Minute)
	between("queryFor", c.QueryFor, 10*time.Millisecond, 10*time.Minute)
	between("reverseInterval", c.ReverseInterval, 10*time.Millisecond, time.Minute)
	between("minReverseDelay", c.MinReverseDelay, 0, 5*time.Minute)
	between("retention", c.Retention, time.Hour, 5*365*24*time.Hour)
	between("lockTimeout", c.LockTimeout, 100*time.Millisecond, 5*time.Minute)
	if c.ReverseAttempts < 1 || c.ReverseAttempts > 100 {
		ps.Addf(p("reverseAttempts"), "must be between 1 and 100, got %d", c.ReverseAttempts)
	}
	if c.QueryInterval.D() > c.QueryFor.D() && c.QueryFor.D() > 0 {
		ps.Addf(p("queryInterval"), "must not exceed queryFor (%s), got %s", c.QueryFor, c.QueryInterval)
	}
}

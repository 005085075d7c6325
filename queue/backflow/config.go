package backflow

import (
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// Config is the "backflow" section of the configuration file.
type Config struct {
	// BatchSize is the most records one call carries. Default 50.
	BatchSize int `yaml:"batchSize"`
	// Concurrency is the most calls in flight at once. Default 2.
	Concurrency int `yaml:"concurrency"`
	// RatePerSecond limits records sent per second (token bucket). Default 50.
	RatePerSecond float64 `yaml:"ratePerSecond"`
	// Burst is the most records sent at once above the rate; at least BatchSize.
	// Default 100.
	Burst int `yaml:"burst"`
	// BackoffBase is the first backoff ceiling after a failed call; each failure doubles
	// it up to BackoffMax, and the wait is random below the ceiling (full jitter).
	// Default 1s.
	BackoffBase config.Duration `yaml:"backoffBase"`
	// BackoffMax caps the backoff ceiling. Default 5m.
	BackoffMax config.Duration `yaml:"backoffMax"`
	// Interval is how often the queue is looked at without a signal. Default 30s.
	Interval config.Duration `yaml:"interval"`
	// SubmitTimeout bounds one call. Default 30s.
	SubmitTimeout config.Duration `yaml:"submitTimeout"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{BatchSize: 50, Concurrency: 2, RatePerSecond: 50, Burst: 100,
		BackoffBase: config.Duration(time.Second), BackoffMax: config.Duration(5 * time.Minute),
		Interval: config.Duration(30 * time.Second), SubmitTimeout: config.Duration(30 * time.Second)}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	if c.BatchSize < 1 || c.BatchSize > 500 {
		ps.Addf(p("batchSize"), "must be between 1 and 500, got %d", c.BatchSize)
	}
	if c.Concurrency < 1 || c.Concurrency > 16 {
		ps.Addf(p("concurrency"), "must be between 1 and 16, got %d", c.Concurrency)
	}
	if c.RatePerSecond <= 0 || c.RatePerSecond > 100000 {
		ps.Addf(p("ratePerSecond"), "must be above 0 and at most 100000, got %g", c.RatePerSecond)
	}
	if c.Burst < c.BatchSize || c.Burst > 100000 {
		ps.Addf(p("burst"), "must be at least batchSize (%d) and at most 100000, got %d", c.BatchSize, c.Burst)
	}
	if d := c.BackoffBase.D(); d < 10*time.Millisecond || d > time.Hour {
		ps.Addf(p("backoffBase"), "must be between 10ms and 1h, got %s", c.BackoffBase)
	}
	if d := c.BackoffMax.D(); d < c.BackoffBase.D() || d > 24*time.Hour {
		ps.Addf(p("backoffMax"), "must be between backoffBase and 24h, got %s", c.BackoffMax)
	}
	if d := c.Interval.D(); d < 10*time.Millisecond || d > time.Hour {
		ps.Addf(p("interval"), "must be between 10ms and 1h, got %s", c.Interval)
	}
	if d := c.SubmitTimeout.D(); d < 100*time.Millisecond || d > 10*time.Minute {
		ps.Addf(p("submitTimeout"), "must be between 100ms and 10m, got %s", c.SubmitTimeout)
	}
}

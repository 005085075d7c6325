package queue

import (
	"path/filepath"
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// Config is the "queue" section of the configuration file.
type Config struct {
	// KeyFile holds the SM4 key that encrypts record bodies at rest (32 hex digits, mode
	// 0600). Empty: queue.key in the state directory, created on first start.
	KeyFile config.SecretFile `yaml:"keyFile"`
	// KeySecret, usually credential:NAME, is the secret the queue key is wrapped under
	// (KeySource): the state directory then holds only the wrapped key, queue.keywrap,
	// and a copy of it opens nothing. At the first start with it a plain key file
	// (keyFile or queue.key) is wrapped and deleted: the records stay. Empty: the
	// plain key file (the lab's way).
	KeySecret config.SecretFile `yaml:"keySecret"`
	// MaxMB caps the records held (queued and quarantined) in MiB. Default 256.
	MaxMB int `yaml:"maxMB"`
	// ReservePercent of the cap is kept for records of business already done (the C.4
	// record of a payment that succeeded); new business stops before it. Default 5.
	ReservePercent int `yaml:"reservePercent"`
	// TelemetryPercent of the cap is the telemetry lane's budget. Default 10.
	TelemetryPercent int `yaml:"telemetryPercent"`
	// MaxRecordKB bounds one record in KiB. Default 256.
	MaxRecordKB int `yaml:"maxRecordKB"`
	// LockTimeout bounds the wait for the queue file's lock at start. Default 5s.
	LockTimeout config.Duration `yaml:"lockTimeout"`
	// QuarantineRetention is how long a quarantined record is kept for a person to
	// release or export it; older ones are deleted at start and every hour (each
	// deletion is an event and a log line). Default 720h (30 days), 1h to 87600h.
	QuarantineRetention config.Duration `yaml:"quarantineRetention"`
}

// FileName is the queue file's name in the state directory.
const FileName = "queue.db"

// KeyPath returns the key file to use: KeyFile, or queue.key in stateDir.
func (c Config) KeyPath(stateDir string) config.SecretFile {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return config.SecretFile(filepath.Join(stateDir, "queue.key"))
}

// KeySource returns where the queue key of the state directory stateDir comes from.
func (c Config) KeySource(stateDir string) KeySource {
	return KeySource{Plain: c.KeyPath(stateDir), Secret: c.KeySecret, Wrapped: filepath.Join(stateDir, WrapFileName)}
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxMB: 256, ReservePercent: 5, TelemetryPercent: 10, MaxRecordKB: 256,
		LockTimeout: config.Duration(5 * time.Second), QuarantineRetention: config.Duration(DefaultQuarantineRetention)}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	if c.MaxMB < 1 || c.MaxMB > 1<<20 {
		ps.Addf(p("maxMB"), "must be between 1 and 1048576 MiB, got %d", c.MaxMB)
	}
	if c.ReservePercent < 1 || c.ReservePercent > 50 {
		ps.Addf(p("reservePercent"), "must be between 1 and 50, got %d", c.ReservePercent)
	}
	if c.TelemetryPercent < 1 || c.TelemetryPercent > 50 {
		ps.Addf(p("telemetryPercent"), "must be between 1 and 50, got %d", c.TelemetryPercent)
	}
	if c.MaxRecordKB < 1 || c.MaxRecordKB > 16<<10 {
		ps.Addf(p("maxRecordKB"), "must be between 1 and 16384 KiB, got %d", c.MaxRecordKB)
	} else if c.MaxMB >= 1 && int64(c.MaxRecordKB)<<10 > int64(c.MaxMB)<<20/10 {
		ps.Addf(p("maxRecordKB"), "must be at most a tenth of maxMB (%d KiB), got %d", int64(c.MaxMB)<<10/10, c.MaxRecordKB)
	}
	if t := c.LockTimeout.D(); t < 100*time.Millisecond || t > 5*time.Minute {
		ps.Addf(p("lockTimeout"), "must be between 100ms and 5m, got %s", c.LockTimeout)
	}
	if r := c.QuarantineRetention.D(); r < time.Hour || r > 87600*time.Hour {
		ps.Addf(p("quarantineRetention"), "must be between 1h and 87600h (10 years), got %s", c.QuarantineRetention)
	}
}

// DefaultQuarantineRetention is queue.quarantineRetention's default: 30 days.
const DefaultQuarantineRetention = 30 * 24 * time.Hour

// Options returns the queue options for this configuration; the caller adds the
// terminal id, the key and the logger.
func (c Config) Options() Options {
	maxBytes := int64(c.MaxMB) << 20
	return Options{
		MaxBytes:          maxBytes,
		ReserveBytes:      maxBytes * int64(c.ReservePercent) / 100,
		TelemetryMaxBytes: maxBytes * int64(c.TelemetryPercent) / 100,
		MaxRecordBytes:    c.MaxRecordKB << 10,
		LockTimeout:       c.LockTimeout.D(),
	}
}

package qrscan

import (
	"encoding/hex"
	"regexp"
	"runtime"
	"slices"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/qrscan/hid"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// Kind is how a scanner is attached.
type Kind string

// Scanner kinds.
const (
	// KindSerial is a serial or USB CDC (virtual COM) scanner, or a pty.
	KindSerial Kind = "serial"
	// KindHID is a USB HID keyboard-wedge scanner read through Linux evdev.
	KindHID Kind = "hid"
	// KindStdin reads the agent's standard input (the demo, pipes).
	KindStdin Kind = "stdin"
)

// Kinds lists the valid kinds.
var Kinds = []Kind{KindSerial, KindHID, KindStdin}

// Limits of the largest QR code: version 40 in byte mode carries 2953 bytes.
const (
	MaxQRBytes     = 2953
	DefaultMaxLine = 4096
	MaxMaxLine     = 64 << 10
)

// Configs is the "scanners" section: every scanner attached to the terminal.
type Configs []Config

// Config is one scanner. Zero values take the documented defaults.
type Config struct {
	// Name identifies the scanner in scans, logs, telemetry and scenes' "scanners" lists.
	Name string `yaml:"name"`
	// Kind is serial, hid or stdin.
	Kind Kind `yaml:"kind"`
	// Serial is the port of a serial scanner.
	Serial serial.Config `yaml:"serial"`
	// HID selects the input device of a keyboard-wedge scanner.
	HID hid.Config `yaml:"hid"`
	// Framing says how the byte stream is cut into codes.
	Framing Framing `yaml:"framing"`
	// Limits bound what one scanner can make the agent do.
	Limits Limits `yaml:"limits"`
	// Classify assigns a class to each code.
	Classify Classification `yaml:"classify"`
}

// Framing is the "framing" block of a scanner.
type Framing struct {
	// Terminator is any (CR, LF or CRLF), cr, lf, crlf, suffix or idle. Default any.
	Terminator Terminator `yaml:"terminator"`
	// SuffixByte is the terminator byte for terminator suffix, two hex digits ("03" = ETX).
	SuffixByte string `yaml:"suffixByte"`
	// IdleGap: with terminator idle, the silence that ends a code (default 100ms); with
	// the others, a partial line followed by this much silence is discarded as noise
	// (default 1s).
	IdleGap config.Duration `yaml:"idleGap"`
	// StripPrefix is removed from the start of a code when present (an AIM symbology
	// identifier such as "]Q1", STX "\x02").
	StripPrefix string `yaml:"stripPrefix"`
	// StripSuffix is removed from the end of a code when present.
	StripSuffix string `yaml:"stripSuffix"`
	// MaxLine is the line buffer in bytes; a longer line is dropped and counted. Default
	// 4096, at most 65536.
	MaxLine int `yaml:"maxLine"`
}

// Limits is the "limits" block of a scanner.
type Limits struct {
	// MaxCodeLength is the longest code in bytes, after stripping. Default 2953 (the most
	// a QR code holds), at most maxLine.
	MaxCodeLength int `yaml:"maxCodeLength"`
	// DedupWindow: the same code again within this time of its last sighting is dropped
	// (sliding). Default 3s; it cannot be turned off (e-card codes are single use).
	DedupWindow config.Duration `yaml:"dedupWindow"`
	// RatePerSecond is the sustained number of scans a second accepted. Default 5.
	RatePerSecond float64 `yaml:"ratePerSecond"`
	// Burst is the number of scans accepted at once above the rate. Default 10.
	Burst int `yaml:"burst"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Kind == KindSerial {
		c.Serial = c.Serial.WithDefaults()
	}
	if c.Kind == KindHID {
		c.HID = c.HID.WithDefaults()
	}
	f := &c.Framing
	if f.Terminator == "" {
		f.Terminator = TermAny
	}
	if f.IdleGap == 0 {
		f.IdleGap = config.Duration(time.Second)
		if f.Terminator == TermIdle {
			f.IdleGap = config.Duration(100 * time.Millisecond)
		}
	}
	if f.MaxLine == 0 {
		f.MaxLine = DefaultMaxLine
	}
	l := &c.Limits
	if l.MaxCodeLength == 0 {
		l.MaxCodeLength = min(MaxQRBytes, f.MaxLine)
	}
	if l.DedupWindow == 0 {
		l.DedupWindow = config.Duration(3 * time.Second)
	}
	if l.RatePerSecond == 0 {
		l.RatePerSecond = 5
	}
	if l.Burst == 0 {
		l.Burst = 10
	}
	if c.Classify.Default == "" {
		c.Classify.Default = ClassUnknown
	}
	return c
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Validate implements config.Validator for the whole section.
func (cs Configs) Validate(path string, ps *config.Problems) {
	seen := map[string]bool{}
	stdin := 0
	for i, c := range cs {
		p := config.Index(path, i)
		if seen[c.Name] {
			ps.Addf(config.Join(p, "name"), "%q is used by another scanner", c.Name)
		}
		seen[c.Name] = true
		if c.Kind == KindStdin {
			if stdin++; stdin == 2 {
				ps.Addf(config.Join(p, "kind"), "only one scanner can read standard input")
			}
		}
		c.Validate(p, ps)
	}
}

// Validate implements config.Validator for one scanner.
func (c Config) Validate(path string, ps *config.Problems) {
	c = c.WithDefaults()
	p := func(f string) string { return config.Join(path, f) }
	if !nameRE.MatchString(c.Name) {
		ps.Addf(p("name"), "must be 1-32 letters, digits, '.', '_' or '-', got %q", c.Name)
	}
	switch c.Kind {
	case KindSerial:
		c.Serial.Validate(p("serial"), ps)
	case KindHID:
		if runtime.GOOS != "linux" {
			ps.Addf(p("kind"), "hid scanners are read through Linux evdev; on %s set the scanner to serial (USB CDC) mode and use kind serial", runtime.GOOS)
		}
		c.HID.Validate(p("hid"), ps)
	case KindStdin:
	default:
		ps.Addf(p("kind"), "must be serial, hid or stdin, got %q", c.Kind)
	}
	c.Framing.Validate(p("framing"), ps)
	l := c.Limits
	if l.MaxCodeLength < 1 || l.MaxCodeLength > c.Framing.MaxLine {
		ps.Addf(p("limits.maxCodeLength"), "must be between 1 and framing.maxLine (%d), got %d", c.Framing.MaxLine, l.MaxCodeLength)
	}
	if w := l.DedupWindow.D(); w > 10*time.Minute {
		ps.Addf(p("limits.dedupWindow"), "must be at most 10m, got %s", w)
	}
	if l.RatePerSecond < 0 || l.RatePerSecond > 1000 {
		ps.Addf(p("limits.ratePerSecond"), "must be between 0 and 1000, got %v", l.RatePerSecond)
	}
	if l.Burst < 1 || l.Burst > 1000 {
		ps.Addf(p("limits.burst"), "must be between 1 and 1000, got %d", l.Burst)
	}
	c.Classify.Validate(p("classify"), ps)
}

// Validate implements config.Validator.
func (f Framing) Validate(path string, ps *config.Problems) {
	p := func(s string) string { return config.Join(path, s) }
	if f.Terminator != "" && !slices.Contains(Terminators, f.Terminator) {
		ps.Addf(p("terminator"), "must be any, cr, lf, crlf, suffix or idle, got %q", f.Terminator)
	}
	if f.Terminator == TermSuffix {
		if _, err := f.suffix(); err != nil {
			ps.Addf(p("suffixByte"), "must be two hex digits such as \"03\", got %q", f.SuffixByte)
		}
	} else if f.SuffixByte != "" {
		ps.Addf(p("suffixByte"), "is used with terminator suffix only")
	}
	if g := f.IdleGap.D(); g != 0 && (g < 5*time.Millisecond || g > time.Minute) {
		ps.Addf(p("idleGap"), "must be between 5ms and 1m, got %s", g)
	}
	if f.MaxLine != 0 && (f.MaxLine < 16 || f.MaxLine > MaxMaxLine) {
		ps.Addf(p("maxLine"), "must be between 16 and %d, got %d", MaxMaxLine, f.MaxLine)
	}
}

// suffix decodes SuffixByte.
func (f Framing) suffix() (byte, error) {
	b, err := hex.DecodeString(f.SuffixByte)
	if err != nil || len(b) != 1 {
		return 0, errBadSuffix
	}
	return b[0], nil
}

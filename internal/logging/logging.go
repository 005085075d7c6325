// Package logging builds sscagent's log/slog logger: text to stderr in the foreground,
// JSON when running as a service, a level that can be changed while running, and a
// masking handler that passes every message and string attribute through mask.Text so
// an ID number, phone or bank card that reached a log call is hidden (spec 8.3.2).
//
// Masking here is the safety net. Code that logs personal data on purpose wraps it in
// mask.Value first; e-card codes and keys are never logged at all (mask.Secret at most).
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
)

// Format is how log records are written.
type Format string

// Formats. Auto picks text in a terminal session and JSON under a service manager.
const (
	FormatAuto Format = "auto"
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// Config is the "log" section of the configuration file.
type Config struct {
	// Level is the minimum level written: debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is auto, text or json. Default auto.
	Format Format `yaml:"format"`
	// File, when set, is where the log goes instead of standard error, rotated by
	// size (FileMaxMB, FileKeep). A Windows service, whose standard error nobody
	// reads, logs to STATEDIR/logs/sscagent.log when File is empty.
	File string `yaml:"file"`
	// FileMaxMB is the size in MiB at which File rotates. Default (and 0) 10.
	FileMaxMB int `yaml:"fileMaxMB"`
	// FileKeep is how many rotated files stay (FILE.1 newest). Default 5.
	FileKeep int `yaml:"fileKeep"`
}

// DefaultConfig returns the defaults: info level, automatic format, standard error.
func DefaultConfig() Config {
	return Config{Level: "info", Format: FormatAuto, FileMaxMB: 10, FileKeep: 5}
}

// OpenFile opens the configured log file (path when File is empty) with the
// configured rotation.
func (c Config) OpenFile(path string) (*File, error) {
	if c.File != "" {
		path = c.File
	}
	mb := c.FileMaxMB
	if mb == 0 {
		mb = DefaultConfig().FileMaxMB
	}
	return OpenFile(path, int64(mb)<<20, c.FileKeep)
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	if _, err := ParseLevel(c.Level); err != nil {
		ps.Add(config.Join(path, "level"), err)
	}
	switch c.Format {
	case FormatAuto, FormatText, FormatJSON, "":
	default:
		ps.Addf(config.Join(path, "format"), "must be auto, text or json, got %q", c.Format)
	}
	if c.FileMaxMB < 0 || c.FileMaxMB > 1024 {
		ps.Addf(config.Join(path, "fileMaxMB"), "must be 1-1024 (MiB; 0 for the default 10), got %d", c.FileMaxMB)
	}
	if c.FileKeep < 0 || c.FileKeep > 100 {
		ps.Addf(config.Join(path, "fileKeep"), "must be 0-100, got %d", c.FileKeep)
	}
}

// ParseLevel parses debug, info, warn or error (case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("must be debug, info, warn or error, got %q", s)
}

// New returns a masking logger writing to w. service selects JSON when the format is
// auto. The returned LevelVar changes the level while running.
func New(w io.Writer, c Config, service bool) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	l, err := ParseLevel(c.Level)
	if err != nil {
		l = slog.LevelInfo
	}
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if c.Format == FormatJSON || ((c.Format == FormatAuto || c.Format == "") && service) {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(Masking(h)), lv
}

// Masking wraps h so that the message and every string attribute of every record,
// including attributes added with With and inside groups, go through mask.Text.
func Masking(h slog.Handler) slog.Handler { return maskHandler{h} }

type maskHandler struct{ next slog.Handler }

func (m maskHandler) Enabled(ctx context.Context, l slog.Level) bool { return m.next.Enabled(ctx, l) }

func (m maskHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, mask.Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(maskAttr(a))
		return true
	})
	return m.next.Handle(ctx, nr)
}

func (m maskHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = maskAttr(a)
	}
	return maskHandler{m.next.WithAttrs(out)}
}

func (m maskHandler) WithGroup(name string) slog.Handler { return maskHandler{m.next.WithGroup(name)} }

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, mask.Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = maskAttr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindDuration:
		// As "1.899s", not JSON's bare nanoseconds (1899000000).
		return slog.String(a.Key, v.Duration().String())
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, mask.Text(err.Error()))
		}
		if s, ok := v.Any().(fmt.Stringer); ok {
			return slog.String(a.Key, mask.Text(s.String()))
		}
		return slog.String(a.Key, mask.Text(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

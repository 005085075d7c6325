// Package gate drives the local output that follows a successful identity outcome: a
// relay pulsed by a serial command (the common USB/RS-232 relay boards of gate
// controllers), an HTTP hook of the gate controller, or nothing.
//
// Opening a gate is not idempotent: every Open makes at most one attempt, bounded by a
// timeout, and is never retried. A failure is returned for the pipeline to report (the
// operator opens by hand); a second pulse could let two people through.
package gate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/sscagent/sscagent/internal/config"
)

// Kind selects the output.
type Kind string

// Output kinds.
const (
	KindNone   Kind = "none"
	KindSerial Kind = "serial"
	KindHTTP   Kind = "http"
)

// Config is the "gate" part of a scene.
type Config struct {
	// Kind is none, serial or http. Default none.
	Kind Kind `yaml:"kind"`
	// Timeout bounds one opening, from start to the relay's or hook's answer. Default 2s.
	Timeout config.Duration `yaml:"timeout"`
	// Serial is the relay on a serial port (kind serial).
	Serial SerialConfig `yaml:"serial"`
	// HTTP is the hook of the gate controller (kind http).
	HTTP HTTPConfig `yaml:"http"`
}

// SerialConfig describes a serial relay board.
type SerialConfig struct {
	// Port is the device: /dev/ttyUSB0, COM3.
	Port string `yaml:"port"`
	// Baud is the line speed. Default 9600.
	Baud int `yaml:"baud"`
	// Command is the hex bytes that pulse the relay, e.g. "A00101A2" (LCUS-1 "on").
	Command string `yaml:"command"`
	// Release is optional hex bytes sent after PulseWidth, e.g. "A00100A1" ("off"); empty
	// for boards that pulse by themselves.
	Release string `yaml:"release"`
	// PulseWidth is how long the relay stays closed before Release. Default 500ms.
	PulseWidth config.Duration `yaml:"pulseWidth"`
}

// HTTPConfig describes an HTTP hook.
type HTTPConfig struct {
	// URL receives a POST with a JSON body {terminalId, scene, event, time}.
	URL string `yaml:"url"`
	// TokenFile, when set, holds a bearer token sent in the Authorization header.
	TokenFile config.SecretFile `yaml:"tokenFile"`
}

// DefaultConfig returns the defaults: no output.
func DefaultConfig() Config {
	return Config{Kind: KindNone, Timeout: config.Duration(2 * time.Second),
		Serial: SerialConfig{Baud: 9600, PulseWidth: config.Duration(500 * time.Millisecond)}}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	if t := c.Timeout.D(); t <= 0 || t > 30*time.Second {
		ps.Addf(p("timeout"), "must be between 0s and 30s, got %s", c.Timeout)
	}
	switch c.Kind {
	case KindNone, "":
	case KindSerial:
		if c.Serial.Port == "" {
			ps.Addf(p("serial.port"), "required for kind serial")
		}
		if c.Serial.Baud <= 0 {
			ps.Addf(p("serial.baud"), "must be positive, got %d", c.Serial.Baud)
		}
		if b, err := hex.DecodeString(c.Serial.Command); err != nil || len(b) == 0 {
			ps.Addf(p("serial.command"), "must be hex bytes such as \"A00101A2\", got %q", c.Serial.Command)
		}
		if _, err := hex.DecodeString(c.Serial.Release); err != nil {
			ps.Addf(p("serial.release"), "must be hex bytes or empty, got %q", c.Serial.Release)
		}
		if c.Serial.PulseWidth.D() < 0 || c.Serial.PulseWidth.D() >= c.Timeout.D() {
			ps.Addf(p("serial.pulseWidth"), "must be between 0s and the timeout, got %s", c.Serial.PulseWidth)
		}
	case KindHTTP:
		u, err := url.Parse(c.HTTP.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.Addf(p("http.url"), "must be an http:// or https:// URL, got %q", c.HTTP.URL)
		}
	default:
		ps.Addf(p("kind"), "must be none, serial or http, got %q", c.Kind)
	}
}

// Trigger says why the gate opens; it is what an HTTP hook receives.
type Trigger struct {
	TerminalID string    `json:"terminalId"`
	Scene      string    `json:"scene"`
	Event      uint64    `json:"event"`
	Time       time.Time `json:"time"`
}

// Opener opens a gate once.
type Opener interface {
	Open(ctx context.Context, t Trigger) error
}

// New returns the Opener for c. Secrets are read here, not in Validate.
func New(c Config) (Opener, error) {
	switch c.Kind {
	case KindSerial:
		cmd, _ := hex.DecodeString(c.Serial.Command)
		rel, _ := hex.DecodeString(c.Serial.Release)
		return &serialRelay{cfg: c, cmd: cmd, release: rel}, nil
	case KindHTTP:
		// A redirect is a failure, never a second request: a 307 would POST again.
		h := &httpHook{cfg: c, client: &http.Client{Timeout: c.Timeout.D(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		if c.HTTP.TokenFile != "" {
			tok, err := c.HTTP.TokenFile.Read()
			if err != nil {
				return nil, fmt.Errorf("gate: %w", err)
			}
			h.token = strings.TrimSpace(string(tok))
		}
		return h, nil
	}
	return none{}, nil
}

type none struct{}

func (none) Open(context.Context, Trigger) error { return nil }

// ErrGate is wrapped by every failure to open.
var ErrGate = errors.New("gate not opened")

type serialRelay struct {
	cfg          Config
	cmd, release []byte
	mu           sync.Mutex // one pulse at a time
}

func (r *serialRelay) Open(ctx context.Context, _ Trigger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout.D())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.pulse(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: serial relay %s: %v", ErrGate, r.cfg.Serial.Port, ctx.Err())
	}
}

func (r *serialRelay) pulse(ctx context.Context) error {
	port, err := serial.Open(r.cfg.Serial.Port, &serial.Mode{BaudRate: r.cfg.Serial.Baud})
	if err != nil {
		return fmt.Errorf("%w: serial relay %s: %v", ErrGate, r.cfg.Serial.Port, err)
	}
	defer port.Close()
	if _, err := port.Write(r.cmd); err != nil {
		return fmt.Errorf("%w: serial relay %s: %v", ErrGate, r.cfg.Serial.Port, err)
	}
	if len(r.release) == 0 {
		return port.Drain()
	}
	t := time.NewTimer(r.cfg.Serial.PulseWidth.D())
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	// The release is sent even when the context ended: a relay must never stay closed.
	if _, err := port.Write(r.release); err != nil {
		return fmt.Errorf("serial relay %s: release: %w", r.cfg.Serial.Port, err)
	}
	return port.Drain()
}

type httpHook struct {
	cfg    Config
	client *http.Client
	token  string
}

func (h *httpHook) Open(ctx context.Context, t Trigger) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout.D())
	defer cancel()
	body, _ := json.Marshal(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.HTTP.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrGate, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: hook: %v", ErrGate, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: hook answered %s", ErrGate, resp.Status)
	}
	return nil
}

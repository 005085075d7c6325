package localapi

import (
	"encoding/hex"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
)

// Config is the "localapi" section of the configuration file.
type Config struct {
	// Listen is the loopback address to serve on. Default 127.0.0.1:8765. Non-loopback
	// addresses are refused: the API moves money and must not be reachable from the network.
	Listen string `yaml:"listen"`
	// TokenFile is deprecated: tokens. It holds one bearer token (mode 0600) that may
	// do everything (all scopes, named "tokenFile" in the audit log); the agent warns
	// at start while it is set.
	TokenFile config.SecretFile `yaml:"tokenFile"`
	// Tokens are the applications' tokens, each with a name and its scopes; only the
	// SHA-256 of each token is kept (sscagent token new makes one).
	TokenList []TokenConfig `yaml:"tokens"`
	// Socket is an optional Unix-socket listener beside the loopback one.
	Socket Socket `yaml:"socket"`
	// AllowOrigins lists browser origins allowed by CORS, for kiosk HTML5 pages served
	// from another local origin (e.g. "http://localhost:3000"). Empty: no CORS headers.
	AllowOrigins []string `yaml:"allowOrigins"`
}

// TokenConfig is one entry of localapi.tokens.
type TokenConfig struct {
	// Name identifies the application in the audit log: 1-32 letters, digits, '-', '_'.
	Name string `yaml:"name"`
	// Scopes are gate, kiosk and/or operator (docs/local-api.md).
	Scopes []string `yaml:"scopes"`
	// SHA256 is the SHA-256 of the token, 64 hex digits.
	SHA256 string `yaml:"sha256"`
}

// Socket is the "socket" block: a Unix-socket listener whose file permissions (0660,
// owner the agent's user, group Group) decide who may connect; a token is still needed.
// Not on Windows (no named pipe listener is provided there).
type Socket struct {
	// Path of the socket file; empty: no socket. A stale socket file there is replaced.
	Path string `yaml:"path"`
	// Group owns the socket file (name or numeric id); empty: the agent's group.
	Group string `yaml:"group"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Listen: "127.0.0.1:8765"} }

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		ps.Addf(config.Join(path, "listen"), "must be host:port, got %q", c.Listen)
	} else if !isLoopbackHost(host) {
		ps.Addf(config.Join(path, "listen"), "must be a loopback address (127.0.0.1, ::1, localhost), got %q", host)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.Addf(config.Join(path, "listen"), "port must be 0-65535, got %q", port)
	}
	if c.TokenFile == "" && len(c.TokenList) == 0 {
		ps.Addf(config.Join(path, "tokens"), "required: at least one token (sscagent token new), or the deprecated tokenFile")
	}
	seen := map[string]bool{}
	for i, t := range c.TokenList {
		at := func(f string) string { return config.Join(config.Index(config.Join(path, "tokens"), i), f) }
		switch {
		case !reRefundField.MatchString(t.Name):
			ps.Addf(at("name"), "must be 1-32 letters, digits, '-' or '_', got %q", t.Name)
		case t.Name == LegacyTokenName || seen[t.Name]:
			ps.Addf(at("name"), "%q is taken", t.Name)
		}
		seen[t.Name] = true
		if len(t.Scopes) == 0 {
			ps.Addf(at("scopes"), "required: one or more of gate, kiosk, operator")
		}
		for j, sc := range t.Scopes {
			if !Scope(sc).Valid() {
				ps.Addf(config.Index(at("scopes"), j), "must be gate, kiosk or operator, got %q", sc)
			}
		}
		if h, err := hex.DecodeString(t.SHA256); err != nil || len(h) != 32 {
			ps.Addf(at("sha256"), "must be the token's SHA-256, 64 hex digits (sscagent token new prints it)")
		}
	}
	if c.Socket.Path != "" {
		if runtime.GOOS == "windows" {
			ps.Addf(config.Join(path, "socket.path"), "Unix sockets are not offered on Windows: use listen")
		} else if !filepath.IsAbs(c.Socket.Path) {
			ps.Addf(config.Join(path, "socket.path"), "must be an absolute path, got %q", c.Socket.Path)
		}
	} else if c.Socket.Group != "" {
		ps.Addf(config.Join(path, "socket.group"), "set without socket.path")
	}
	for i, o := range c.AllowOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			ps.Addf(config.Index(config.Join(path, "allowOrigins"), i), "must be an http(s) origin, got %q", o)
		}
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

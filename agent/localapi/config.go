package localapi

import (
	"net"
	"strconv"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
)

// Config is the "localapi" section of the configuration file.
type Config struct {
	// Listen is the loopback address to serve on. Default 127.0.0.1:8765. Non-loopback
	// addresses are refused: the API moves money and must not be reachable from the network.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token applications send (mode 0600).
	TokenFile config.SecretFile `yaml:"tokenFile"`
	// AllowOrigins lists browser origins allowed by CORS, for kiosk HTML5 pages served
	// from another local origin (e.g. "http://localhost:3000"). Empty: no CORS headers.
	AllowOrigins []string `yaml:"allowOrigins"`
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
	if c.TokenFile == "" {
		ps.Addf(config.Join(path, "tokenFile"), "required: path of the bearer token file")
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

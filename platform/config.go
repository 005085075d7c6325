// Package platform is sscagent's client of the one-card-pass application platform
// (一卡通应用平台): the Appendix D request/response envelope, SM2/SM3 signatures, SM4
// field encryption, anti-replay checks and the classified outcome of every call.
package platform

import (
	"net/url"

	"github.com/sscagent/sscagent/config"
)

// Config is the "platform" section of the configuration file.
type Config struct {
	// BaseURL is the platform's service root, http:// or https://.
	BaseURL string `yaml:"baseURL"`
	// ChannelNo is the 12-digit channel number (渠道编号) the platform assigned.
	ChannelNo string `yaml:"channelNo"`
	// ApplicationNo is the optional 2-digit application scene code of table C.7.
	ApplicationNo string `yaml:"applicationNo"`
	// PrivateKey is the PKCS#8 PEM file of this channel's SM2 private key (mode 0600).
	PrivateKey config.SecretFile `yaml:"privateKey"`
	// PlatformPublicKey is the PEM file of the platform's SM2 public key.
	PlatformPublicKey string `yaml:"platformPublicKey"`
	// SM4Key is the file holding the 16-byte SM4 key (32 hex digits) for sensitive fields.
	SM4Key config.SecretFile `yaml:"sm4Key"`
	// Timeout bounds one call, from connect to the last byte of the answer. Default 15s.
	Timeout config.Duration `yaml:"timeout"`
}

// DefaultConfig returns the defaults that do not depend on the site.
func DefaultConfig() Config {
	return Config{Timeout: config.Duration(15e9)}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	if c.BaseURL == "" {
		ps.Addf(p("baseURL"), "required")
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ps.Addf(p("baseURL"), "must be an http:// or https:// URL, got %q", c.BaseURL)
	}
	if !digits(c.ChannelNo, 12) {
		ps.Addf(p("channelNo"), "must be 12 digits, got %q", c.ChannelNo)
	}
	if c.ApplicationNo != "" && !digits(c.ApplicationNo, 2) {
		ps.Addf(p("applicationNo"), "must be 2 digits (table C.7) or empty, got %q", c.ApplicationNo)
	}
	if c.PrivateKey == "" {
		ps.Addf(p("privateKey"), "required: path of the channel's SM2 private key (PKCS#8 PEM)")
	}
	if c.PlatformPublicKey == "" {
		ps.Addf(p("platformPublicKey"), "required: path of the platform's SM2 public key (PEM)")
	}
	if c.SM4Key == "" {
		ps.Addf(p("sm4Key"), "required: path of the SM4 key file")
	}
	if c.Timeout.D() <= 0 || c.Timeout.D() > 120e9 {
		ps.Addf(p("timeout"), "must be between 0s and 2m, got %s", c.Timeout)
	}
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

package platform

import (
	"errors"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/tlspin"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Config is the "platform" section of the configuration file. DefaultConfig holds the
// defaults of every optional field; docs/platform-protocol.md explains each setting.
type Config struct {
	// BaseURL is the platform's service root, http:// or https://. Operation paths are
	// appended to it.
	BaseURL string `yaml:"baseURL"`
	// ChannelNo is the 12-digit channel number (渠道编号) the platform assigned.
	ChannelNo string `yaml:"channelNo"`
	// ApplicationNo is the optional 2-digit application scene code of table C.7, sent
	// in the envelope of calls made outside any scene (a scene's applicationNo wins).
	ApplicationNo string `yaml:"applicationNo"`
	// Profile names the platform's dialect: a built-in profile (sscsim, appendix-d) or
	// the path of a profile document, relative to the configuration file. Empty:
	// sscsim. docs/platform-profiles.md documents profiles.
	Profile string `yaml:"profile"`
	// PrivateKey is the PKCS#8 PEM file of this channel's SM2 private key (mode 0600).
	PrivateKey config.SecretFile `yaml:"privateKey"`
	// PlatformPublicKey is the PEM file of the platform's SM2 public key.
	PlatformPublicKey string `yaml:"platformPublicKey"`
	// SM4Key is the file holding the 16-byte SM4 key (32 hex digits) for sensitive fields.
	SM4Key config.SecretFile `yaml:"sm4Key"`
	// Timeout bounds one request, from connect to the last byte of the answer (a call
	// that corrects a stale timestamp makes two). Default 15s.
	Timeout config.Duration `yaml:"timeout"`

	// CAFile is a PEM file of the CA certificates trusted for https; when set, only
	// these are trusted (the sandbox's self-signed tls.crt, or the platform's CA).
	// Empty: the system's roots.
	CAFile string `yaml:"caFile"`
	// ClientCert and ClientKey are an optional TLS client certificate (PEM) and its key
	// (mode 0600), for platforms that require mutual TLS. Both or neither.
	ClientCert string            `yaml:"clientCert"`
	ClientKey  config.SecretFile `yaml:"clientKey"`
	// TLS holds further https settings.
	TLS TLS `yaml:"tls"`
	// AllowPlainHTTP lets a production terminal (terminal.test false) use an http://
	// baseURL, which spec 8.2 allows on a government private network: whoever sets it
	// says the network is one. The agent warns at every start. Test terminals need not
	// set it.
	AllowPlainHTTP bool `yaml:"allowPlainHTTP"`

	// Signature is deprecated: profile.signature. When set it overrides the profile's.
	Signature SignatureConfig `yaml:"signature"`
	// SM4 is deprecated: profile.sm4. When set it overrides the profile's.
	SM4 SM4Config `yaml:"sm4"`

	// TimestampWindow is how far a response's timestamp may be from the (corrected)
	// local clock. Default 300s.
	TimestampWindow config.Duration `yaml:"timestampWindow"`
	// MaxClockOffset bounds the clock correction learned from the platform's signed
	// responses; a larger difference is reported, not adopted. Default 24h.
	MaxClockOffset config.Duration `yaml:"maxClockOffset"`

	// Operations is deprecated: profile.operations.OP.path and serviceCode. An entry
	// overrides the profile's path or service code of its operation.
	Operations map[string]OperationConfig `yaml:"operations"`
	// MsgCodes is deprecated: profile.msgCodes. Entries are added to the profile's.
	MsgCodes map[string]string `yaml:"msgCodes"`
}

// TLS is the "tls" block of the platform section.
type TLS struct {
	// PinSPKI lists SHA-256 hashes of the public keys (SubjectPublicKeyInfo) the
	// platform's certificate chain must carry one of, in base64 or hex; checked on every
	// connection after the usual verification. Empty: no pinning. List two while the
	// platform changes its key.
	PinSPKI []string `yaml:"pinSPKI"`
}

// SignatureConfig is the deprecated platform.signature: profile.signature.
type SignatureConfig = protocol.SignatureProfile

// SM4Config is the deprecated platform.sm4: profile.sm4.
type SM4Config = protocol.SM4Profile

// OperationConfig is one entry of the deprecated platform.operations.
type OperationConfig struct {
	// Path below baseURL; empty: the default path of the operation.
	Path string `yaml:"path"`
	// ServiceCode, when set, is sent as "serviceCode" in the operation's data.
	ServiceCode string `yaml:"serviceCode"`
}

// DefaultConfig returns the defaults that do not depend on the site.
func DefaultConfig() Config {
	return Config{
		Timeout:         config.Duration(15 * time.Second),
		TimestampWindow: config.Duration(300 * time.Second),
		MaxClockOffset:  config.Duration(24 * time.Hour),
	}
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	c.validateFields(path, ps)
	c.compile(path, ps)
}

// validateFields checks every setting but the profile.
func (c Config) validateFields(path string, ps *config.Problems) {
	p := func(f string) string { return config.Join(path, f) }
	if c.BaseURL == "" {
		ps.Addf(p("baseURL"), "required")
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		ps.Addf(p("baseURL"), "must be an http:// or https:// URL without user, query or fragment, got %q", c.BaseURL)
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
	if (c.ClientCert == "") != (c.ClientKey == "") {
		ps.Addf(p("clientCert"), "clientCert and clientKey go together: give both or neither")
	}
	if (c.CAFile != "" || c.ClientCert != "" || len(c.TLS.PinSPKI) > 0) && c.PlainHTTP() {
		ps.Addf(p("baseURL"), "caFile, clientCert and tls.pinSPKI need an https:// baseURL")
	}
	tlspin.Validate(p("tls.pinSPKI"), c.TLS.PinSPKI, ps)
	if w := c.TimestampWindow.D(); w < time.Second || w > time.Hour {
		ps.Addf(p("timestampWindow"), "must be between 1s and 1h, got %s", c.TimestampWindow)
	}
	if m := c.MaxClockOffset.D(); m < max(c.TimestampWindow.D(), time.Second) || m > 365*24*time.Hour {
		ps.Addf(p("maxClockOffset"), "must be between timestampWindow and 8760h, got %s", c.MaxClockOffset)
	}
}

// PlainHTTP reports whether the platform is reached over plain http://.
func (c Config) PlainHTTP() bool { return strings.HasPrefix(strings.ToLower(c.BaseURL), "http://") }

// compile compiles the effective profile, adding its problems to ps; nil when there
// were any.
func (c Config) compile(path string, ps *config.Problems) *protocol.Dialect {
	d, err := c.Dialect()
	if err == nil {
		return d
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		ps.Add(config.Join(path, "profile"), err)
		return nil
	}
	for _, pr := range ce.Problems {
		ps.Addf(pr.Path, "%s", pr.Reason)
	}
	return nil
}

func opNames() []string {
	var out []string
	for _, o := range protocol.Operations() {
		out = append(out, string(o.Op))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool { return c < '0' || c > '9' })
}

package platform

import (
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/config"
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
	// ApplicationNo is the optional 2-digit application scene code of table C.7.
	ApplicationNo string `yaml:"applicationNo"`
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

	// Signature says how envelopes are signed.
	Signature SignatureConfig `yaml:"signature"`
	// SM4 says how sensitive fields are encrypted.
	SM4 SM4Config `yaml:"sm4"`

	// TimestampWindow is how far a response's timestamp may be from the (corrected)
	// local clock. Default 300s.
	TimestampWindow config.Duration `yaml:"timestampWindow"`
	// MaxClockOffset bounds the clock correction learned from the platform's signed
	// responses; a larger difference is reported, not adopted. Default 24h.
	MaxClockOffset config.Duration `yaml:"maxClockOffset"`

	// Operations overrides the path or sets a service code per operation (keys:
	// cardAuth, cardInternalAuth, ecardDecode, micropay, orderQuery, reverse,
	// merchantQR, backflow). Operations not listed use the documented defaults.
	Operations map[string]OperationConfig `yaml:"operations"`
	// MsgCodes overrides the class of platform msgCodes: code -> rejected | retryable |
	// unknown. Codes not in the built-in table are otherwise business rejections.
	MsgCodes map[string]string `yaml:"msgCodes"`
}

// SignatureConfig is platform.signature.
type SignatureConfig struct {
	// SignerID is the SM2 user id (ID_A). Default "1234567812345678".
	SignerID string `yaml:"signerId"`
	// Format is der (ASN.1 SEQUENCE{r, s}) or raw (r||s, 64 bytes). Default der.
	Format protocol.SignatureFormat `yaml:"format"`
	// Encoding is base64 or hex. Default base64.
	Encoding protocol.Encoding `yaml:"encoding"`
}

// SM4Config is platform.sm4.
type SM4Config struct {
	// Mode is cbc (random IV in front), ecb or gcm (random nonce in front). Default cbc.
	Mode protocol.SM4Mode `yaml:"mode"`
	// Encoding is base64 or hex. Default base64.
	Encoding protocol.Encoding `yaml:"encoding"`
}

// OperationConfig is one entry of platform.operations.
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
		Signature:       SignatureConfig{SignerID: protocol.DefaultSignerID, Format: protocol.FormatDER, Encoding: protocol.Base64},
		SM4:             SM4Config{Mode: protocol.SM4CBC, Encoding: protocol.Base64},
		TimestampWindow: config.Duration(300 * time.Second),
		MaxClockOffset:  config.Duration(24 * time.Hour),
	}
}

// classNamesForConfig are the classes platform.msgCodes may assign.
var classNamesForConfig = map[string]Class{"rejected": ClassRejected, "retryable": ClassRetryable, "unknown": ClassUnknown}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
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
	if (c.CAFile != "" || c.ClientCert != "") && strings.HasPrefix(c.BaseURL, "http://") {
		ps.Addf(p("baseURL"), "caFile and clientCert need an https:// baseURL")
	}
	if n := len(c.Signature.SignerID); n == 0 || n > 64 {
		ps.Addf(p("signature.signerId"), "must be 1-64 bytes, got %d", n)
	}
	if !c.Signature.Format.Valid() {
		ps.Addf(p("signature.format"), "must be der or raw, got %q", c.Signature.Format)
	}
	if !c.Signature.Encoding.Valid() {
		ps.Addf(p("signature.encoding"), "must be base64 or hex, got %q", c.Signature.Encoding)
	}
	if !c.SM4.Mode.Valid() {
		ps.Addf(p("sm4.mode"), "must be cbc, ecb or gcm, got %q", c.SM4.Mode)
	}
	if !c.SM4.Encoding.Valid() {
		ps.Addf(p("sm4.encoding"), "must be base64 or hex, got %q", c.SM4.Encoding)
	}
	if w := c.TimestampWindow.D(); w < time.Second || w > time.Hour {
		ps.Addf(p("timestampWindow"), "must be between 1s and 1h, got %s", c.TimestampWindow)
	}
	if m := c.MaxClockOffset.D(); m < max(c.TimestampWindow.D(), time.Second) || m > 365*24*time.Hour {
		ps.Addf(p("maxClockOffset"), "must be between timestampWindow and 8760h, got %s", c.MaxClockOffset)
	}
	for _, name := range sortedKeys(c.Operations) {
		op := c.Operations[name]
		fp := config.Join(p("operations"), name)
		if _, ok := protocol.LookupOp(protocol.Op(name)); !ok {
			ps.Addf(fp, "unknown operation; known: %s", strings.Join(opNames(), ", "))
			continue
		}
		if op.Path != "" && (!strings.HasPrefix(op.Path, "/") || strings.ContainsAny(op.Path, "?# ")) {
			ps.Addf(config.Join(fp, "path"), "must start with / and hold no query, fragment or space, got %q", op.Path)
		}
		if len(op.ServiceCode) > 64 || strings.ContainsAny(op.ServiceCode, "\"\\\x00\n\r\t") {
			ps.Addf(config.Join(fp, "serviceCode"), "must be at most 64 printable characters")
		}
	}
	for _, code := range sortedKeys(c.MsgCodes) {
		fp := config.Join(p("msgCodes"), code)
		if !digits(code, 6) || code == protocol.CodeOK {
			ps.Addf(fp, "must be a 6-digit msgCode other than 000000")
		}
		if _, ok := classNamesForConfig[c.MsgCodes[code]]; !ok {
			ps.Addf(fp, "must be rejected, retryable or unknown, got %q", c.MsgCodes[code])
		}
	}
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

package protocol

import (
	"bytes"

	"embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sscagent/sscagent/internal/config"
)

// Profile describes one platform's dialect of the Appendix D protocol: envelope names,
// payload encoding, id and time formats, the canonical string, value formats, the
// signature and SM4 settings, msgCode classes and, per operation, its path, service
// code, field names and encrypted fields. docs/platform-profiles.md documents every key.
// A Profile is data; Compile checks it and returns the Dialect both sides speak.
type Profile struct {
	// Name is free text, shown by "sscagent platform profile show".
	Name string `yaml:"name"`
	// Envelope is the request and response envelope.
	Envelope EnvelopeProfile `yaml:"envelope"`
	// Values are the formats of dates and amounts in data and result.
	Values ValuesProfile `yaml:"values"`
	// Signature says how envelopes are signed.
	Signature SignatureProfile `yaml:"signature"`
	// SM4 says how sensitive fields are encrypted.
	SM4 SM4Profile `yaml:"sm4"`
	// MsgCodes overrides the class of msgCodes: code -> rejected | retryable | unknown.
	MsgCodes map[string]string `yaml:"msgCodes,omitempty"`
	// Operations are the per-operation settings, by internal operation name.
	Operations map[string]OperationProfile `yaml:"operations"`
}

// EnvelopeProfile is profile.envelope.
type EnvelopeProfile struct {
	Request  RequestNames  `yaml:"request"`
	Response ResponseNames `yaml:"response"`
	// Payload is string (data and result are JSON text in a string) or object.
	Payload string `yaml:"payload"`
	// RequestID is hex32, digits32 or uuid.
	RequestID string `yaml:"requestId"`
	// Timestamp is "YYYY-MM-DD HH:MM:SS" or "YYYYMMDDHHMMSS".
	Timestamp string `yaml:"timestamp"`
	// SuccessCode is the msgCode of success.
	SuccessCode string `yaml:"successCode"`
	// Canonical is how the signed string is built.
	Canonical CanonicalProfile `yaml:"canonical"`
}

// RequestNames are the wire names of the request envelope's fields.
type RequestNames struct {
	RequestID     string `yaml:"requestId"`
	Timestamp     string `yaml:"timestamp"`
	ChannelNo     string `yaml:"channelNo"`
	ApplicationNo string `yaml:"applicationNo"`
	Data          string `yaml:"data"`
	Signature     string `yaml:"signature"`
}

// ResponseNames are the wire names of the response envelope's fields.
type ResponseNames struct {
	MsgCode   string `yaml:"msgCode"`
	Msg       string `yaml:"msg"`
	Result    string `yaml:"result"`
	RequestID string `yaml:"requestId"`
	Timestamp string `yaml:"timestamp"`
	Signature string `yaml:"signature"`
}

// CanonicalProfile is profile.envelope.canonical.
type CanonicalProfile struct {
	// OmitEmpty leaves fields with an empty value out. Default true.
	OmitEmpty *bool `yaml:"omitEmpty"`
	// Join is written between fields. Default "&".
	Join string `yaml:"join"`
	// Assign is written between key and value. Default "=".
	Assign string `yaml:"assign"`
}

// ValuesProfile is profile.values.
type ValuesProfile struct {
	// Date is YYYYMMDD or YYYY-MM-DD.
	Date string `yaml:"date"`
	// Amount is yuan ("12.50") or fen ("1250").
	Amount string `yaml:"amount"`
}

// SignatureProfile is profile.signature (and the deprecated platform.signature).
type SignatureProfile struct {
	// SignerID is the SM2 user id (ID_A). Default "1234567812345678".
	SignerID string `yaml:"signerId"`
	// Format is der (ASN.1 SEQUENCE{r, s}) or raw (r||s, 64 bytes). Default der.
	Format SignatureFormat `yaml:"format"`
	// Encoding is base64 or hex. Default base64.
	Encoding Encoding `yaml:"encoding"`
}

// SM4Profile is profile.sm4 (and the deprecated platform.sm4).
type SM4Profile struct {
	// Mode is cbc (random IV in front), ecb or gcm (random nonce in front). Default cbc.
	Mode SM4Mode `yaml:"mode"`
	// Encoding is base64 or hex. Default base64.
	Encoding Encoding `yaml:"encoding"`
}

// OperationProfile is one entry of profile.operations.
type OperationProfile struct {
	// Path below the base URL. Empty: the operation's default.
	Path string `yaml:"path"`
	// ServiceCode, when set, is sent as serviceCode in the operation's data.
	ServiceCode string `yaml:"serviceCode"`
	// Fields maps internal names to wire names, in data and result. "records" names a
	// list, "records[].recordId" a field of its elements (the value is the element's
	// wire field name). Unlisted fields keep their name.
	Fields map[string]string `yaml:"fields,omitempty"`
	// Encrypt are the internal names that travel SM4-encrypted. Absent: the
	// operation's sensitive fields (docs/platform-protocol.md section 9).
	Encrypt []Path `yaml:"encrypt"`
}

// Built-in profile names.
const (
	// ProfileSSCSim is the sandbox's dialect, the default.
	ProfileSSCSim = "sscsim"
	// ProfileAppendixD follows the standard's text and examples literally.
	ProfileAppendixD = "appendix-d"
)

//go:embed profiles/*.yaml
var builtinFS embed.FS

// BuiltinProfiles returns the names of the built-in profiles.
func BuiltinProfiles() []string { return []string{ProfileSSCSim, ProfileAppendixD} }

// BuiltinProfile returns the YAML text of a built-in profile.
func BuiltinProfile(name string) ([]byte, bool) {
	if !slices.Contains(BuiltinProfiles(), name) {
		return nil, false
	}
	b, err := builtinFS.ReadFile("profiles/" + name + ".yaml")
	return b, err == nil
}

// profileFile is the document: the profile under the key "profile".
type profileFile struct {
	Profile Profile `yaml:"profile"`
}

// MaxProfileSize bounds a profile document.
const MaxProfileSize = 256 << 10

// ParseProfile decodes a profile document strictly (unknown keys are errors with their
// YAML path) and checks it. Every problem is reported, each with its path below
// "profile"; the error is a *config.Error.
func ParseProfile(doc []byte) (Profile, error) {
	var f profileFile
	if len(doc) > MaxProfileSize {
		return f.Profile, fmt.Errorf("profile: larger than %d bytes", MaxProfileSize)
	}
	var ps config.Problems
	if err := config.Decode(doc, &f); err != nil {
		// Unknown keys and wrong types are reported with the rest; a syntax error
		// leaves nothing to check.
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Syntax() {
			return f.Profile, err
		}
		for _, p := range ce.Problems {
			ps.Addf(p.Path, "%s", p.Reason)
		}
	}
	f.Profile.Validate("profile", &ps)
	return f.Profile, ps.Err()
}

// LoadProfile returns the profile ref names: a built-in profile's name, or the path of
// a profile document. Empty is the default, sscsim.
func LoadProfile(ref string) (Profile, error) {
	if ref == "" {
		ref = ProfileSSCSim
	}
	if b, ok := BuiltinProfile(ref); ok {
		return ParseProfile(b)
	}
	st, err := os.Stat(ref)
	if err != nil {
		return Profile{}, fmt.Errorf("profile %q: not a built-in profile (%s) and not a readable file: %w",
			ref, strings.Join(BuiltinProfiles(), ", "), err)
	}
	if st.Size() > MaxProfileSize {
		return Profile{}, fmt.Errorf("profile %s: larger than %d bytes", ref, MaxProfileSize)
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		return Profile{}, fmt.Errorf("profile: %w", err)
	}
	p, err := ParseProfile(b)
	var ce *config.Error
	if errors.As(err, &ce) {
		for i := range ce.Problems {
			ce.Problems[i].Path = ref + ": " + ce.Problems[i].Path
		}
	}
	return p, err
}

// YAML writes p as a profile document ("sscagent platform profile show").
func (p Profile) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(profileFile{Profile: p}); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

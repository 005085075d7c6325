package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode"

	"github.com/sscagent/sscagent/internal/signing"
)

// Signed management messages (docs/mgmt-protocol.md §10.1). A manager signs a
// configuration document or a command request by encoding it as JSON (a Desired or a
// Request with its binding fields set: type, terminal, id, issuedAt, expiresAt), signing
// exactly those bytes with its key, and publishing the envelope
//
//	{"v":1,"alg":"sm2","keyId":"<16 hex>","payload":"<base64 of the JSON bytes>","sig":"<base64>"}
//
// The signed bytes are the payload's bytes, nothing else: no canonical re-encoding is
// needed, and `base64 -d` of the payload field is what `openssl dgst -sm3 -verify`
// checks.

// Envelope is the signed form of a desired configuration or a command request.
type Envelope struct {
	V int `json:"v"`
	// Alg is the key's algorithm: "sm2" (SM2 with SM3 and the default signer id
	// 1234567812345678, DER signature) or "ed25519".
	Alg string `json:"alg"`
	// KeyID names the manager key that signed (signing.PublicKey.ID: 16 hex digits).
	KeyID string `json:"keyId"`
	// Payload is the signed content: the message's JSON bytes exactly as signed
	// (standard base64 with padding on the wire).
	Payload []byte `json:"payload"`
	// Sig is the signature over Payload (standard base64).
	Sig []byte `json:"sig"`
}

// Types of a signed payload: a payload is only taken on its own kind of topic.
const (
	TypeConfig  = "config"
	TypeCommand = "command"
)

// MaxCommandWindow bounds a signed request's validity (expiresAt - issuedAt).
const MaxCommandWindow = time.Hour

// Refusal reasons: the "refusal" field of a refused report or result, and of the
// mgmt.refused event.
const (
	// RefusedNoKeys: the terminal is not a test terminal and pins no manager key.
	RefusedNoKeys = "no-manager-keys"
	// RefusedUnsigned: the message is not signed, and the terminal pins manager keys.
	RefusedUnsigned = "unsigned"
	// RefusedMalformed: the envelope or its payload cannot be read.
	RefusedMalformed = "malformed"
	// RefusedUnknownKey: signed by a key the terminal does not pin.
	RefusedUnknownKey = "unknown-key"
	// RefusedBadSignature: the signature does not verify with the pinned key (a
	// tampered payload, another key with a pinned key's id, the wrong algorithm).
	RefusedBadSignature = "bad-signature"
	// RefusedForeign: signed for another terminal.
	RefusedForeign = "foreign-terminal"
	// RefusedMismatch: the payload's type or command id is not its topic's.
	RefusedMismatch = "mismatch"
	// RefusedReplayed: a command id taken before, or a request older than the ids the
	// terminal remembers.
	RefusedReplayed = "replayed"
	// RefusedNotYetValid: issued later than the terminal's clock plus the skew allowed.
	RefusedNotYetValid = "not-yet-valid"
	// RefusedExpired: a request received after its expiresAt plus the skew allowed.
	RefusedExpired = "expired"
	// RefusedWindow: a request without expiresAt, or valid for longer than
	// MaxCommandWindow.
	RefusedWindow = "bad-window"
)

// Refusal says why the terminal refused a management message.
type Refusal struct {
	// Reason is one of the Refused constants.
	Reason string
	// Detail is for the log and the report (English).
	Detail string
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Detail }

func refuse(reason, format string, a ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// SignDesired returns the signed message of d for d.Terminal. d.IssuedAt must be set;
// V and Type are filled in.
func SignDesired(k *signing.PrivateKey, d Desired) ([]byte, error) {
	d.V, d.Type = ProtocolVersion, TypeConfig
	if err := CheckTerminalID(d.Terminal); err != nil {
		return nil, fmt.Errorf("sign desired: %w", err)
	}
	if d.Version == 0 || d.IssuedAt.IsZero() {
		return nil, errors.New("sign desired: version and issuedAt are required")
	}
	return seal(k, d)
}

// SignRequest returns the signed message of r for r.Terminal, command id r.ID.
// r.IssuedAt and r.ExpiresAt must be set; V and Type are filled in.
func SignRequest(k *signing.PrivateKey, r Request) ([]byte, error) {
	r.V, r.Type = ProtocolVersion, TypeCommand
	if err := CheckTerminalID(r.Terminal); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	if err := CheckCommandID(r.ID); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	if r.IssuedAt.IsZero() || !r.ExpiresAt.After(r.IssuedAt) || r.ExpiresAt.Sub(r.IssuedAt) > MaxCommandWindow {
		return nil, fmt.Errorf("sign request: issuedAt and expiresAt are required, expiresAt within %s after issuedAt", MaxCommandWindow)
	}
	return seal(k, r)
}

func seal(k *signing.PrivateKey, v any) ([]byte, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	sig, err := k.Sign(payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{V: ProtocolVersion, Alg: string(k.Algorithm()), KeyID: k.Public().ID(), Payload: payload, Sig: sig})
}

// envelopeLimit is the size of an envelope around a payload of at most limit bytes.
func envelopeLimit(limit int) int { return limit/3*4 + 4096 }

// ParseEnvelope reads a management message. signed is false for the unsigned form (an
// object without "payload" and "sig"); then err is set only when b is not a JSON object
// at all. For a signed message err says what is wrong with the envelope: every field is
// required, keyId is 16 lowercase hex digits, and neither the envelope nor its payload
// may repeat a key (JSON parsers disagree on which one wins).
func ParseEnvelope(b []byte, limit int) (e Envelope, signed bool, err error) {
	var fields map[string]json.RawMessage
	if err := decode(b, limit, &fields, func() int { return ProtocolVersion }); err != nil {
		return e, false, err
	}
	for k := range fields {
		if strings.EqualFold(k, "payload") || strings.EqualFold(k, "sig") {
			signed = true
		}
	}
	if !signed {
		return e, false, nil
	}
	if err := checkJSON(b); err != nil {
		return e, true, fmt.Errorf("envelope: %w", err)
	}
	if err := decode(b, limit, &e, func() int { return e.V }); err != nil {
		return e, true, fmt.Errorf("envelope: %w", err)
	}
	switch {
	case e.Alg == "" || e.KeyID == "" || len(e.Payload) == 0 || len(e.Sig) == 0:
		return e, true, errors.New("envelope: alg, keyId, payload and sig are all required")
	case !isKeyID(e.KeyID):
		return e, true, fmt.Errorf("envelope: keyId must be 16 lowercase hex digits, got %q", e.KeyID)
	}
	if _, err := signing.ParseAlgorithm(e.Alg); err != nil || e.Alg != strings.ToLower(e.Alg) {
		return e, true, fmt.Errorf("envelope: alg must be %q or %q, got %q", signing.SM2, signing.Ed25519, e.Alg)
	}
	if err := checkJSON(e.Payload); err != nil {
		return e, true, fmt.Errorf("payload: %w", err)
	}
	return e, true, nil
}

func isKeyID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// checkJSON reports a JSON text that is not one value, or has an object with two keys
// that Go's decoder would take for the same field (equal under Unicode case folding).
func checkJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		key    bool // the object's next token is a key (or its end)
		seen   map[string]bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) > 0 {
				return errors.New("unexpected end of JSON")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		n := len(stack)
		switch {
		case tok == json.Delim('{'):
			stack = append(stack, frame{object: true, key: true, seen: map[string]bool{}})
			continue
		case tok == json.Delim('['):
			stack = append(stack, frame{})
			continue
		case tok == json.Delim('}') || tok == json.Delim(']'):
			stack = stack[:n-1]
		case n > 0 && stack[n-1].object && stack[n-1].key:
			k := foldKey(tok.(string))
			if stack[n-1].seen[k] {
				return fmt.Errorf("key %q appears twice", tok)
			}
			stack[n-1].seen[k] = true
			stack[n-1].key = false
			continue
		}
		// A value ended (a scalar, or an array or object just closed): its object
		// expects a key next.
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].key = true
		}
		if len(stack) == 0 && dec.More() {
			return errors.New("trailing data after the JSON value")
		}
	}
}

// foldKey maps s to one representative of its Unicode simple case folding orbit, per
// rune, as encoding/json matches field names.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			low = min(low, f)
		}
		return low
	}, s)
}

// ReadDesired reads a desired message in either form without verifying a signature:
// the manager's view of what is retained (the terminal verifies, §10.1).
func ReadDesired(b []byte) (Desired, error) {
	e, signed, err := ParseEnvelope(b, envelopeLimit(MaxDesiredSize))
	if err != nil {
		return Desired{}, err
	}
	if signed {
		b = e.Payload
	}
	return DecodeDesired(b)
}

// LoadManagerKeys reads the pinned manager public keys (mgmt.managerKeys). A key file
// others may write is refused: whoever can replace it can command the terminal.
func LoadManagerKeys(paths []string) (signing.Keyring, error) {
	var ring signing.Keyring
	for i, p := range paths {
		at := fmt.Sprintf("mgmt.managerKeys[%d] %s", i, p)
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		fi, err := f.Stat()
		var b []byte
		if err == nil {
			if runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0 {
				err = fmt.Errorf("mode %04o lets others replace the key; make it 0644 or stricter", fi.Mode().Perm())
			} else {
				b, err = io.ReadAll(io.LimitReader(f, 64<<10))
			}
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		k, err := signing.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if _, dup := ring.Find(k.ID()); dup {
			return nil, fmt.Errorf("%s: key %s is listed twice", at, k.ID())
		}
		ring = append(ring, k)
	}
	return ring, nil
}

// guard decides which management messages the terminal takes (§10.1).
type guard struct {
	keys     signing.Keyring
	test     bool // terminal.test: without keys, unsigned messages are taken
	terminal string
	skew     time.Duration
}

// open returns the message of type typ to act on: the verified payload of a signed
// message, or an unsigned message itself where those are taken. signed says which. A test terminal
// without pinned keys takes signed messages without verifying them (it has nothing to
// verify with), but still checks what they are bound to.
func (g *guard) open(b []byte, typ string, limit int) (msg []byte, signed bool, ref *Refusal) {
	msg, signed, ref = g.verify(b, limit)
	if ref == nil && signed {
		// The type first: a document on a command topic is a mismatch, not a bad command.
		var p struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(msg, &p); p.Type != typ {
			return nil, true, refuse(RefusedMismatch, "type %q on a %s topic", p.Type, typ)
		}
	}
	return msg, signed, ref
}

// verify is open without the type check.
func (g *guard) verify(b []byte, limit int) (msg []byte, signed bool, ref *Refusal) {
	e, signed, err := ParseEnvelope(b, envelopeLimit(limit))
	switch {
	case len(g.keys) == 0 && !g.test:
		return nil, signed, refuse(RefusedNoKeys, "no manager key is pinned (mgmt.managerKeys) and this is not a test terminal: remote configuration and commands are refused")
	case !signed && len(g.keys) == 0:
		return b, false, nil
	case !signed && err != nil:
		return nil, false, refuse(RefusedMalformed, "%v", err)
	case !signed:
		return nil, false, refuse(RefusedUnsigned, "not signed; this terminal takes only messages signed by a pinned manager key (%s)", strings.Join(g.keys.IDs(), ", "))
	case err != nil:
		return nil, true, refuse(RefusedMalformed, "%v", err)
	case len(g.keys) == 0:
		return e.Payload, true, nil
	}
	k, ok := g.keys.Find(e.KeyID)
	if !ok {
		return nil, true, refuse(RefusedUnknownKey, "signed by key %s; pinned: %s", e.KeyID, strings.Join(g.keys.IDs(), ", "))
	}
	if string(k.Algorithm()) != e.Alg {
		return nil, true, refuse(RefusedBadSignature, "alg %q, but pinned key %s is %s", e.Alg, k.ID(), k.Algorithm())
	}
	if err := k.Verify(e.Payload, e.Sig); err != nil {
		return nil, true, refuse(RefusedBadSignature, "%v", err)
	}
	return e.Payload, true, nil
}

// desired checks what a signed document is bound to.
func (g *guard) desired(d Desired, now time.Time) *Refusal {
	switch {
	case d.Type != TypeConfig:
		return refuse(RefusedMismatch, "type %q on the config/desired topic (want %q)", d.Type, TypeConfig)
	case d.Terminal != g.terminal:
		return refuse(RefusedForeign, "signed for terminal %q, this is %q", d.Terminal, g.terminal)
	case d.IssuedAt.IsZero():
		return refuse(RefusedMalformed, "issuedAt is required in a signed document")
	case d.IssuedAt.After(now.Add(g.skew)):
		return refuse(RefusedNotYetValid, "issued at %s, later than this terminal's clock (%s) plus %s", stamp(d.IssuedAt), stamp(now), g.skew)
	}
	return nil
}

// request checks what a signed request on command id's topic is bound to.
func (g *guard) request(id string, r Request, now time.Time) *Refusal {
	switch {
	case r.Type != TypeCommand:
		return refuse(RefusedMismatch, "type %q on a command topic (want %q)", r.Type, TypeCommand)
	case r.Terminal != g.terminal:
		return refuse(RefusedForeign, "signed for terminal %q, this is %q", r.Terminal, g.terminal)
	case r.ID != id:
		return refuse(RefusedMismatch, "signed for command id %q, received on the topic of %q", r.ID, id)
	case r.IssuedAt.IsZero():
		return refuse(RefusedMalformed, "issuedAt is required in a signed request")
	case r.ExpiresAt.IsZero() || !r.ExpiresAt.After(r.IssuedAt) || r.ExpiresAt.Sub(r.IssuedAt) > MaxCommandWindow:
		return refuse(RefusedWindow, "expiresAt must be after issuedAt and at most %s later", MaxCommandWindow)
	case r.IssuedAt.After(now.Add(g.skew)):
		return refuse(RefusedNotYetValid, "issued at %s, later than this terminal's clock (%s) plus %s", stamp(r.IssuedAt), stamp(now), g.skew)
	case now.After(r.ExpiresAt.Add(g.skew)):
		return refuse(RefusedExpired, "expired at %s (this terminal's clock: %s, %s skew allowed)", stamp(r.ExpiresAt), stamp(now), g.skew)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

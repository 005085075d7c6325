package localapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Scope is what a token may do. docs/local-api.md has the table of every route's scopes.
type Scope string

// The scopes.
const (
	// ScopeGate: status, queue and the event stream without personal data, for gate and
	// display applications that act on outcomes only.
	ScopeGate Scope = "gate"
	// ScopeKiosk: what a kiosk or POS application does with a holder: reads with the
	// holder's data in clear, card reads, face verification, QR login, payments,
	// medical settlement, records.
	ScopeKiosk Scope = "kiosk"
	// ScopeOperator: a person's corrections: manual settlement of NEEDS_MANUAL orders,
	// refunds, and the payment list to find them.
	ScopeOperator Scope = "operator"
)

// Scopes are all scopes, the legacy token's set.
var Scopes = []Scope{ScopeGate, ScopeKiosk, ScopeOperator}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return slices.Contains(Scopes, s) }

// Token is one application's credential: its name (in the audit log), its scopes and
// the SHA-256 of the secret it sends; the secret itself is never kept.
type Token struct {
	Name   string
	Scopes []Scope
	Hash   [sha256.Size]byte
}

// HashToken returns the hash a token is stored as.
func HashToken(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// NewSecret returns a new random token secret: 32 bytes, base64url (43 characters).
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// LegacyTokenName names the token of the deprecated localapi.tokenFile.
const LegacyTokenName = "tokenFile"

// Tokens returns the configured tokens: each of localapi.tokens, and the deprecated
// single token (all scopes, named "tokenFile") when legacy is not empty.
func (c Config) Tokens(legacy string) ([]Token, error) {
	var out []Token
	for i, t := range c.TokenList {
		h, err := hex.DecodeString(t.SHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("localapi.tokens[%d].sha256: not 64 hex digits", i)
		}
		tk := Token{Name: t.Name}
		copy(tk.Hash[:], h)
		for _, s := range t.Scopes {
			tk.Scopes = append(tk.Scopes, Scope(s))
		}
		out = append(out, tk)
	}
	if strings.TrimSpace(legacy) != "" {
		out = append(out, Token{Name: LegacyTokenName, Scopes: Scopes, Hash: HashToken(strings.TrimSpace(legacy))})
	}
	return out, nil
}

func (t *Token) has(s Scope) bool { return slices.Contains(t.Scopes, s) }

// personal reports whether the token sees (masked) personal data in events.
func (t *Token) personal() bool { return t.has(ScopeKiosk) || t.has(ScopeOperator) }

// route is a handler and the scopes that may call it (any one of them).
type route struct {
	h      http.HandlerFunc
	scopes []Scope
}

var (
	anyScope = []Scope{ScopeGate, ScopeKiosk, ScopeOperator}
	kiosk    = []Scope{ScopeKiosk}
	operator = []Scope{ScopeOperator}
	both     = []Scope{ScopeKiosk, ScopeOperator}
)

type callerKey struct{}

// caller returns the token of the request (set by guard).
func caller(r *http.Request) *Token {
	t, _ := r.Context().Value(callerKey{}).(*Token)
	return t
}

// authenticate returns the token whose hash matches the request's bearer token. Every
// configured hash is compared, in constant time, whichever matches.
func (s *Server) authenticate(r *http.Request) *Token {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodGet && r.URL.Path == "/v1/events" {
		// Browsers' EventSource cannot set headers; the stream alone takes the token as
		// a query parameter. Query strings are never logged.
		tok, ok = r.URL.Query().Get("access_token"), true
	}
	if !ok || tok == "" {
		return nil
	}
	h := HashToken(tok)
	var found *Token
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], s.tokens[i].Hash[:]) == 1 {
			found = &s.tokens[i]
		}
	}
	return found
}

// scoped wraps a route's handler with its scope check: a token without one of the
// route's scopes gets 403 and the scopes it would need.
func (s *Server) scoped(pattern string, rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := caller(r)
		if t == nil || !slices.ContainsFunc(rt.scopes, t.has) {
			name := ""
			if t != nil {
				name = t.Name
			}
			need := make([]string, len(rt.scopes))
			for i, sc := range rt.scopes {
				need[i] = string(sc)
			}
			writeError(w, http.StatusForbidden, prompt.CodeNotAllowed,
				fmt.Sprintf("token %q may not call %s: it needs scope %s", name, pattern, strings.Join(need, " or ")), nil)
			return
		}
		rt.h(w, r)
	}
}

// Disclosure is an answer that may carry clear personal data. Disclosed reports
// whether this one does, the id of the record disclosed and whose it is (masked).
type Disclosure interface {
	Disclosed() (record, maskedSubject string, ok bool)
}

// Auditor records disclosures durably (*audit.Log).
type Auditor interface {
	Append(audit.Entry) (audit.Entry, error)
}

// audited records a disclosure before v is written; false when it could not be
// recorded and the error was answered instead (nothing is disclosed unrecorded).
func (s *Server) audited(w http.ResponseWriter, r *http.Request, v any) bool {
	d, ok := v.(Disclosure)
	if !ok {
		return true
	}
	rec, subj, ok := d.Disclosed()
	if !ok {
		return true
	}
	name := ""
	if t := caller(r); t != nil {
		name = t.Name
	}
	if s.o.Audit == nil {
		writeError(w, http.StatusServiceUnavailable, prompt.CodeInternal, "no audit log: personal data is not served", nil)
		return false
	}
	if _, err := s.o.Audit.Append(audit.Entry{Token: name, Endpoint: r.Pattern, Record: rec, Subject: mask.Text(subj)}); err != nil {
		s.o.Logger.Error("audit log: personal data withheld", "endpoint", r.Pattern, "err", err)
		writeError(w, http.StatusServiceUnavailable, prompt.CodeInternal, "the audit log cannot be written: personal data is not served", nil)
		return false
	}
	return true
}

// personalKeys are the event data keys a token without kiosk or operator scope never
// receives, even masked: who the holder is, and the read handle that leads to them.
var personalKeys = []string{"idNumber", "idType", "name", "cardNo", "cardId", "socialSecurityNo", "birthDate", "readId"}

// withoutPersonal returns data without personalKeys (a copy when it had any).
func withoutPersonal(data map[string]any) map[string]any {
	if !slices.ContainsFunc(personalKeys, func(k string) bool { _, ok := data[k]; return ok }) {
		return data
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		if !slices.Contains(personalKeys, k) {
			out[k] = v
		}
	}
	return out
}

// Disclosed implements Disclosure: a successful read carries the 11 fields in clear.
func (r CardReadResult) Disclosed() (string, string, bool) {
	return r.Reader, r.Subject, r.IReadCardBas != ""
}

// Disclosed implements Disclosure: an authorised login names the holder in clear.
func (v LoginView) Disclosed() (string, string, bool) {
	if v.Holder == nil {
		return "", "", false
	}
	return v.LoginID, mask.IDNumber(v.Holder.IDNumber), true
}

package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/config"
)

// Manager is one person allowed in: a name and the token that proves it.
type Manager struct {
	Name  string
	token [sha256.Size]byte // SHA-256 of the token: compared in constant time
}

// Token bounds.
const (
	minTokenLen = 16
	maxNameLen  = 64
)

// LoadManager reads a manager token file (mode 0600, one line). The manager's name is
// name, or else the file's base name without its extension ("alice.token": alice).
func LoadManager(file config.SecretFile, name string) (Manager, error) {
	b, err := file.Read()
	if err != nil {
		return Manager{}, err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenLen || strings.ContainsAny(tok, "\r\n") {
		return Manager{}, fmt.Errorf("token file %s: want one line of at least %d characters", file, minTokenLen)
	}
	if name == "" {
		base := filepath.Base(string(file))
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if err := checkName(name); err != nil {
		return Manager{}, fmt.Errorf("manager name: %w", err)
	}
	return Manager{Name: name, token: sha256.Sum256([]byte(tok))}, nil
}

// NewManager is a manager with a token given in memory (tests, embedding).
func NewManager(name, token string) (Manager, error) {
	if len(token) < minTokenLen {
		return Manager{}, fmt.Errorf("token: at least %d characters", minTokenLen)
	}
	if err := checkName(name); err != nil {
		return Manager{}, err
	}
	return Manager{Name: name, token: sha256.Sum256([]byte(token))}, nil
}

func checkName(n string) error {
	if n == "" || len(n) > maxNameLen || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("%q: want 1 to %d printable characters", n, maxNameLen)
	}
	return nil
}

// session is one logged-in browser.
type session struct {
	manager string
	csrf    string
	expires time.Time
}

// sessions are the logged-in browsers, by cookie value.
type sessions struct {
	ttl time.Duration

	mu sync.Mutex // guards m
	m  map[string]*session
}

const cookieName = "sscconsole"

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// login checks token against the managers (every one, in constant time) and opens a
// session for the one it belongs to.
func (s *sessions) login(managers []Manager, token string) (id string, se *session, ok bool) {
	h := sha256.Sum256([]byte(token))
	var found *Manager
	for i := range managers {
		if subtle.ConstantTimeCompare(h[:], managers[i].token[:]) == 1 && found == nil {
			found = &managers[i]
		}
	}
	if found == nil {
		return "", nil, false
	}
	id = newToken()
	se = &session{manager: found.Name, csrf: newToken(), expires: time.Now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, v := range s.m { // forget expired sessions
		if now.After(v.expires) {
			delete(s.m, k)
		}
	}
	s.m[id] = se
	return id, se, true
}

func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.m[c.Value]
	if se == nil || time.Now().After(se.expires) {
		delete(s.m, c.Value)
		return nil
	}
	return se
}

func (s *sessions) end(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.drop(c.Value)
	}
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// csrfOK reports whether a mutating request carries the session's CSRF token in the
// X-CSRF-Token header or the csrf form field.
func csrfOK(r *http.Request, se *session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(se.csrf)) == 1
}

// sameOrigin refuses a request whose Origin header (browsers send it on every POST)
// names another site than the one it was sent to.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	o = strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
	return o == r.Host
}

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Manager string    `json:"manager"`
	Action  string    `json:"action"`
	Targets []string  `json:"targets,omitempty"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail,omitempty"`
	Remote  string    `json:"remote,omitempty"`
}

// Audit is the append-only audit log: one JSON object per line, each written and
// synced before the request it records is acted on.
type Audit struct {
	mu sync.Mutex // guards f
	f  *os.File
}

// OpenAudit opens (or creates, mode 0600) the audit log for appending.
func OpenAudit(path string) (*Audit, error) {
	if path == "" {
		return nil, errors.New("no audit log file")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &Audit{f: f}, nil
}

// Write appends rec; an error means the action must not go ahead.
func (a *Audit) Write(rec AuditRecord) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Close closes the file.
func (a *Audit) Close() error { return a.f.Close() }

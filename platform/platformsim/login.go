package platformsim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

// loginState is the sandbox's memory of QR logins (7.1.4). Guarded by Server.mu.
type loginState struct {
	byID   map[string]*login
	byCode map[string]string // codeContent -> loginId
}

// login is one login code and what the holder's phone did with it.
type login struct {
	id, code, loginType string
	expires             time.Time
	state               string // protocol.Login*; EXPIRED is decided when polled
	idNumber            string
}

// The login code's content: a URL-like text the e-card app recognises, carrying a
// single-use ticket.
const loginCodePrefix = "sscsim-login:"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// loginCode answers loginCode: a new login waiting for the holder's phone.
func (st *state) loginCode(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	lt := d.Get("loginType")
	if lt != protocol.LoginScan && lt != protocol.LoginAuthorise {
		return fail(protocol.CodeBadRequest)
	}
	life := 120 * time.Second
	if v := d.Get("expireSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 30 || n > 600 {
			return fail(protocol.CodeBadRequest)
		}
		life = time.Duration(n) * time.Second
	}
	if st.logins.byID == nil {
		st.logins = loginState{byID: map[string]*login{}, byCode: map[string]string{}}
	}
	l := &login{id: "L" + randomHex(12), code: loginCodePrefix + randomHex(16), loginType: lt,
		expires: now.Add(life).Truncate(time.Second), state: protocol.LoginWaiting}
	st.logins.byID[l.id] = l
	st.logins.byCode[l.code] = l.id
	var r protocol.Data
	r.Set("loginId", l.id)
	r.Set("codeContent", l.code)
	r.Set("expireTime", protocol.FormatTime(l.expires))
	return r, protocol.CodeOK, ""
}

// loginPoll answers loginPoll: the login's state, and who once AUTHORISED.
func (st *state) loginPoll(d protocol.Data, now time.Time) (protocol.Data, string, string) {
	l := st.logins.byID[d.Get("loginId")]
	if l == nil {
		return fail(protocol.CodeLoginUnknown)
	}
	if l.state == protocol.LoginWaiting && now.After(l.expires) {
		l.state = protocol.LoginExpired
	}
	var r protocol.Data
	r.Set("loginId", l.id)
	r.Set("loginState", l.state)
	if l.state == protocol.LoginAuthorised {
		p := st.reg.person(l.idNumber)
		r.Set("idNumber", p.IDNumber)
		r.Set("idType", "01")
		r.Set("name", p.Name)
	}
	return r, protocol.CodeOK, ""
}

// Errors of ApproveLogin.
var (
	ErrLoginUnknown = errors.New("no login with this code")
	ErrLoginDone    = errors.New("the login is no longer waiting")
)

// ApproveLogin plays the holder's phone: the e-card app scanned the login code and the
// holder approves as idNumber (refuse: declines). It returns the login id.
func (s *Server) ApproveLogin(code, idNumber string, refuse bool) (string, error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	l := st.logins.byID[st.logins.byCode[code]]
	switch {
	case l == nil:
		return "", ErrLoginUnknown
	case l.state != protocol.LoginWaiting || now.After(l.expires):
		return l.id, fmt.Errorf("%w (%s)", ErrLoginDone, map[bool]string{true: "expired", false: l.state}[l.state == protocol.LoginWaiting])
	case refuse:
		l.state = protocol.LoginRefused
		return l.id, nil
	}
	if st.reg.person(idNumber) == nil {
		return l.id, fmt.Errorf("person %s is not registered", idNumber)
	}
	l.state, l.idNumber = protocol.LoginAuthorised, idNumber
	return l.id, nil
}

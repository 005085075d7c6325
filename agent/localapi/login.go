package localapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
)

// LoginRequest is the body of POST /v1/login: a QR login (7.1.4 登录认证).
type LoginRequest struct {
	// Type is the C.6 办事凭证类型 of the login: 05 电子社会保障卡扫码登录 (default) or 04
	// 社会保障卡信息授权登录.
	Type string `json:"type,omitempty"`
	// Scene names the scene whose record this is; empty: the terminal's only kiosk
	// scene, or its first scene.
	Scene string `json:"scene,omitempty"`
}

// Login states as the local API reports them.
const (
	LoginWaiting     = "waiting"     // show the code; wait with GET /v1/login/{id}?wait=30s
	LoginAuthorised  = "authorised"  // the holder approved: Holder says who
	LoginExpired     = "expired"     // the code expired unapproved
	LoginRefused     = "refused"     // the holder declined on the phone
	LoginUnavailable = "unavailable" // the platform did not answer: start again later
)

// LoginView is a login: its code to show as a QR (only in the answer to POST /v1/login;
// a login ticket the kiosk shows and forgets), its expiry, and once final its outcome,
// the holder and the C.3 record.
type LoginView struct {
	LoginID    string          `json:"loginId"`
	Type       string          `json:"type"`
	State      string          `json:"state"`
	Code       string          `json:"code,omitempty"`
	ExpireTime time.Time       `json:"expireTime,omitzero"`
	Holder     *LoginHolder    `json:"holder,omitempty"`
	RecordID   string          `json:"recordId,omitempty"`
	Prompts    *prompt.Prompts `json:"prompts,omitempty"`
}

// LoginHolder is who logged in (证件号码, 证件类型, 姓名), in clear for the application as
// GET /v1/reads gives a read; masked in logs and events.
type LoginHolder struct {
	IDNumber string `json:"idNumber"`
	IDType   string `json:"idType"`
	Name     string `json:"name"`
}

// LoginService starts QR logins and follows them.
type LoginService interface {
	StartLogin(ctx context.Context, r LoginRequest) (LoginView, error)
	// WaitLogin returns the login's state, waiting up to wait for it to be final.
	WaitLogin(ctx context.Context, id string, wait time.Duration) (LoginView, error)
}

// MaxLoginWait bounds the long poll of GET /v1/login/{id}?wait=.
const MaxLoginWait = 60 * time.Second

func (s *Server) startLogin(w http.ResponseWriter, r *http.Request) {
	if s.o.Login == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "QR login is not offered on this terminal", nil)
		return
	}
	var req LoginRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch req.Type {
	case "":
		req.Type = "05"
	case "04", "05":
	default:
		s.fail(w, &InvalidError{Fields: []FieldError{{Field: "type", Reason: "05 扫码登录 or 04 信息授权登录"}}})
		return
	}
	v, err := s.o.Login.StartLogin(r.Context(), req)
	s.answer(w, r, http.StatusCreated, v, err)
}

// getLogin is GET /v1/login/{id}[?wait=D]: with wait, a long poll that answers as soon
// as the login is final, or after D (at most 60s) with its state then.
func (s *Server) getLogin(w http.ResponseWriter, r *http.Request) {
	if s.o.Login == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "QR login is not offered on this terminal", nil)
		return
	}
	wait, ok := s.waitParam(w, r, MaxLoginWait)
	if !ok {
		return
	}
	v, err := s.o.Login.WaitLogin(r.Context(), r.PathValue("id"), wait)
	s.answer(w, r, http.StatusOK, v, err)
}

// waitParam reads the ?wait= duration of a long poll (0 without), at most max; false
// when it answered 422.
func (s *Server) waitParam(w http.ResponseWriter, r *http.Request, max time.Duration) (time.Duration, bool) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > max {
		s.fail(w, &InvalidError{Fields: []FieldError{{Field: "wait", Reason: fmt.Sprintf("a duration from 0s to %s, e.g. 30s", max)}}})
		return 0, false
	}
	return d, true
}

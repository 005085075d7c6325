package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

//go:embed static
var static embed.FS

// Request bounds.
const (
	maxBody         = 2*rollout.MaxDocSize + 64<<10
	maxTargets      = 64
	maxCommandWait  = mgmt.MaxCommandTimeout
	defaultCmdWait  = 30 * time.Second
	defaultBatchTTL = 3 * time.Minute
	// streamCoalesce gathers the changes of a moment into one server-sent event.
	streamCoalesce = 300 * time.Millisecond
	// streamRefresh re-sends a view that ages (presence, staleness) without messages.
	streamRefresh = 15 * time.Second
)

func (s *Server) routes() {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	files := http.FileServerFS(sub)
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.mutating(s.logout))
	mux.HandleFunc("GET /api/session", s.reading(func(w http.ResponseWriter, r *http.Request, se *session) {
		writeJSON(w, http.StatusOK, map[string]string{"manager": se.manager, "csrf": se.csrf})
	}))
	mux.HandleFunc("GET /api/terminals", s.reading(s.table))
	mux.HandleFunc("GET /api/terminals/{id}", s.reading(s.terminal))
	mux.HandleFunc("POST /api/terminals/{id}/commands", s.mutating(s.command))
	mux.HandleFunc("GET /api/rollouts", s.reading(func(w http.ResponseWriter, r *http.Request, _ *session) {
		s.serveView(w, r, func() (any, error) { return s.rollouts.all(), nil })
	}))
	mux.HandleFunc("POST /api/rollouts", s.mutating(s.startRollout))
	mux.HandleFunc("GET /api/rollouts/{id}", s.reading(s.rollout))
	mux.HandleFunc("POST /api/rollouts/{id}/stop", s.mutating(s.stopRollout))
	s.mux = mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, apiError{Error: fmt.Sprintf(format, args...)})
}

// reading wraps a handler that needs a session.
func (s *Server) reading(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := s.sessions.get(r)
		if se == nil {
			fail(w, http.StatusUnauthorized, "login required")
			return
		}
		h(w, r, se)
	}
}

// mutating wraps a handler that changes something: a session, the same origin and
// the session's CSRF token are required.
func (s *Server) mutating(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return s.reading(func(w http.ResponseWriter, r *http.Request, se *session) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if !sameOrigin(r) || !csrfOK(r, se) {
			s.audit(r, se.manager, "csrf.refused", nil, "refused", r.Method+" "+r.URL.Path)
			fail(w, http.StatusForbidden, "missing or wrong CSRF token: reload the page")
			return
		}
		h(w, r, se)
	})
}

// audit writes one audit record; false (after answering 500) means: do not act.
func (s *Server) audit(r *http.Request, manager, action string, targets []string, result, detail string) bool {
	err := s.o.Audit.Write(AuditRecord{Manager: manager, Action: action, Targets: targets, Result: result, Detail: detail, Remote: r.RemoteAddr})
	if err != nil {
		s.o.Log.Error("console: audit log", "err", err)
		return false
	}
	return true
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !sameOrigin(r) {
		fail(w, http.StatusForbidden, "cross-origin login refused")
		return
	}
	token := r.PostFormValue("token")
	id, se, ok := s.sessions.login(s.o.Managers, token)
	if !ok {
		s.audit(r, "", "login", nil, "refused", "wrong token")
		fail(w, http.StatusUnauthorized, "wrong token")
		return
	}
	if !s.audit(r, se.manager, "login", nil, "ok", "") {
		s.sessions.drop(id)
		fail(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"manager": se.manager, "csrf": se.csrf})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, se *session) {
	s.audit(r, se.manager, "logout", nil, "ok", "")
	s.sessions.end(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.o.Secure,
		SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{})
}

func (s *Server) table(w http.ResponseWriter, r *http.Request, _ *session) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.serveView(w, r, func() (any, error) { return s.model.Table(q), nil })
}

var errNotFound = errors.New("not found")

func (s *Server) terminal(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	s.serveView(w, r, func() (any, error) {
		d, ok := s.model.Terminal(id)
		if !ok {
			return nil, errNotFound
		}
		return d, nil
	})
}

func (s *Server) rollout(w http.ResponseWriter, r *http.Request, _ *session) {
	ro := s.rollouts.get(r.PathValue("id"))
	s.serveView(w, r, func() (any, error) {
		if ro == nil {
			return nil, errNotFound
		}
		return ro.view(true), nil
	})
}

// serveView answers with view's JSON, or with ?stream=1 as server-sent events: the
// view now, and again after every change that alters it.
func (s *Server) serveView(w http.ResponseWriter, r *http.Request, view func() (any, error)) {
	if r.URL.Query().Get("stream") == "" {
		v, err := view()
		if err != nil {
			fail(w, http.StatusNotFound, "%v", err)
			return
		}
		writeJSON(w, http.StatusOK, v)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "retry: 2000\n\n")
	fl.Flush()
	ctx := r.Context()
	var last []byte
	for {
		changed := s.model.Changed()
		var b []byte
		if v, err := view(); err != nil {
			b, _ = json.Marshal(apiError{Error: err.Error()})
		} else if b, err = json.Marshal(v); err != nil {
			return
		}
		if !bytes.Equal(b, last) {
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			fl.Flush()
			last = b
		}
		if !wait(ctx, changed, streamRefresh) || !wait(ctx, nil, streamCoalesce) {
			return
		}
	}
}

// wait returns after ch is closed (nil: never) or d, false when ctx ended first.
func wait(ctx context.Context, ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-ch:
	case <-t.C:
	}
	return true
}

// CommandRequest is the body of POST /api/terminals/{id}/commands.
type CommandRequest struct {
	Name    string          `json:"name"`
	Args    json.RawMessage `json:"args,omitempty"`
	Timeout float64         `json:"timeout,omitempty"` // seconds
}

// RolloutRequest is the body of POST /api/rollouts.
type RolloutRequest struct {
	// Targets: terminal ids and globs separated by spaces, commas or new lines.
	Targets string  `json:"targets"`
	Doc     string  `json:"doc"`
	Batch   int     `json:"batch,omitempty"`
	Timeout float64 `json:"timeout,omitempty"` // seconds per batch
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

// ParseTargets splits a target list (spaces, commas, new lines) and checks each.
func ParseTargets(s string) ([]string, error) {
	ts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	if len(ts) == 0 {
		return nil, errors.New("no targets")
	}
	if len(ts) > maxTargets {
		return nil, fmt.Errorf("more than %d targets: use a glob", maxTargets)
	}
	for _, t := range ts {
		if !strings.ContainsAny(t, "*?[") {
			if err := mgmt.CheckTerminalID(t); err != nil {
				return nil, fmt.Errorf("%q: %w", t, err)
			}
		} else if _, err := path.Match(t, ""); err != nil {
			return nil, fmt.Errorf("bad pattern %q", t)
		}
	}
	return ts, nil
}

func (s *Server) command(w http.ResponseWriter, r *http.Request, se *session) {
	id := r.PathValue("id")
	var req CommandRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	timeout := time.Duration(req.Timeout * float64(time.Second))
	if timeout == 0 {
		timeout = defaultCmdWait
	}
	switch {
	case mgmt.CheckTerminalID(id) != nil:
		fail(w, http.StatusBadRequest, "bad terminal id %q", id)
		return
	case mgmt.CheckCommandID(req.Name) != nil: // names follow the command id rules
		fail(w, http.StatusBadRequest, "bad command name %q", req.Name)
		return
	case len(req.Args) > 0 && !json.Valid(req.Args):
		fail(w, http.StatusBadRequest, "args must be JSON")
		return
	case timeout < 0 || timeout > maxCommandWait:
		fail(w, http.StatusBadRequest, "timeout: from 0 to %v", maxCommandWait)
		return
	}
	if !s.audit(r, se.manager, "command", []string{id}, "sent", req.Name) {
		fail(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	sent := s.model.startCommand(id, req.Name, se.manager)
	go func() {
		res, err := s.o.Fleet.Command(context.Background(), []string{id}, req.Name, req.Args, timeout)
		cr := fleet.CommandResult{ID: id, Status: "failed"}
		if err == nil && len(res) == 1 {
			cr = res[0]
		} else if err != nil {
			cr.Result = &mgmt.Result{Error: err.Error()}
		}
		s.model.finishCommand(id, req.Name, se.manager, sent, cr)
	}()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "running"})
}

func (s *Server) startRollout(w http.ResponseWriter, r *http.Request, se *session) {
	var req RolloutRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	targets, err := ParseTargets(req.Targets)
	if err != nil {
		fail(w, http.StatusBadRequest, "targets: %v", err)
		return
	}
	doc := []byte(req.Doc)
	if len(doc) > rollout.MaxDocSize {
		fail(w, http.StatusBadRequest, "the document is %d bytes, more than %d", len(doc), rollout.MaxDocSize)
		return
	}
	if ps := rollout.Screen(doc, rollout.DefaultImmutable); len(ps) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "the document was refused before sending", "problems": ps})
		return
	}
	timeout := time.Duration(req.Timeout * float64(time.Second))
	if timeout <= 0 {
		timeout = defaultBatchTTL
	}
	if req.Batch < 0 || timeout > time.Hour {
		fail(w, http.StatusBadRequest, "batch must be 0 or more, timeout at most 1h")
		return
	}
	ids, err := fleet.Expand(targets, s.model.IDs())
	if err != nil {
		fail(w, http.StatusBadRequest, "targets: %v", err)
		return
	}
	if !s.audit(r, se.manager, "rollout.start", targets, "started",
		fmt.Sprintf("%d terminals, sha256 %s, batch %d", len(ids), rollout.Hash(doc), req.Batch)) {
		fail(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	remote := r.RemoteAddr
	ro := s.rollouts.start(s.o.Fleet, s.model, RolloutSpec{Targets: targets, IDs: ids, Doc: doc, Batch: req.Batch, Timeout: timeout, By: se.manager,
		OnEnd: func(v RolloutView) {
			_ = s.o.Audit.Write(AuditRecord{Manager: v.By, Action: "rollout.end", Targets: v.Targets, Result: v.State,
				Detail: strings.TrimSpace(v.ID + " " + countsText(v.Counts) + " " + v.Reason), Remote: remote})
		}})
	writeJSON(w, http.StatusAccepted, ro.view(false))
}

func countsText(c map[string]int) string {
	var b strings.Builder
	for _, k := range []string{"committed", "unchanged", "rejected", "rolled-back", "rollback-failed", "stale", "offline", "timeout", StatusUnwatched, StatusNotSent} {
		if c[k] > 0 {
			fmt.Fprintf(&b, "%s=%d ", k, c[k])
		}
	}
	return strings.TrimSpace(b.String())
}

func (s *Server) stopRollout(w http.ResponseWriter, r *http.Request, se *session) {
	ro := s.rollouts.get(r.PathValue("id"))
	if ro == nil {
		fail(w, http.StatusNotFound, "no rollout %q", r.PathValue("id"))
		return
	}
	v := ro.view(false)
	if !s.audit(r, se.manager, "rollout.stop", v.Targets, "stopping", v.ID) {
		fail(w, http.StatusInternalServerError, "audit log unavailable")
		return
	}
	if !ro.stop() {
		fail(w, http.StatusConflict, "rollout %s is %s", v.ID, v.State)
		return
	}
	writeJSON(w, http.StatusOK, ro.view(false))
}

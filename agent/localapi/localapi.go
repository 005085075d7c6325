// Package localapi is the HTTP interface for the kiosk, gate and POS applications that
// run on the same machine: status, a Server-Sent Events stream of masked events, payment
// requests, the application's own business records to flow back, and queue statistics.
// docs/local-api.md and docs/local-api.openapi.yaml describe it.
//
// It listens on loopback only and every request carries a bearer token read from a file.
// The package owns small interfaces for what it serves (PaymentService, RecordSink,
// StatusSource, QueueSource); the agent implements them.
package localapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Config is the "localapi" section of the configuration file.
type Config struct {
	// Listen is the loopback address to serve on. Default 127.0.0.1:8765. Non-loopback
	// addresses are refused: the API moves money and must not be reachable from the network.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token applications send (mode 0600).
	TokenFile config.SecretFile `yaml:"tokenFile"`
	// AllowOrigins lists browser origins allowed by CORS, for kiosk HTML5 pages served
	// from another local origin (e.g. "http://localhost:3000"). Empty: no CORS headers.
	AllowOrigins []string `yaml:"allowOrigins"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Listen: "127.0.0.1:8765"} }

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		ps.Addf(config.Join(path, "listen"), "must be host:port, got %q", c.Listen)
	} else if !isLoopbackHost(host) {
		ps.Addf(config.Join(path, "listen"), "must be a loopback address (127.0.0.1, ::1, localhost), got %q", host)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.Addf(config.Join(path, "listen"), "port must be 0-65535, got %q", port)
	}
	if c.TokenFile == "" {
		ps.Addf(config.Join(path, "tokenFile"), "required: path of the bearer token file")
	}
	for i, o := range c.AllowOrigins {
		if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			ps.Addf(config.Index(config.Join(path, "allowOrigins"), i), "must be an http(s) origin, got %q", o)
		}
	}
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// PaymentRequest asks for a payment (spec 7.2.3 被扫 with a scanned code, or 7.2.4 主扫).
type PaymentRequest struct {
	// Amount in fen (分), 1 to 100000000.
	Amount int64 `json:"amount"`
	// Subject is what is paid for, shown to the holder.
	Subject string `json:"subject"`
	// Code is the e-card payment code when the application scanned it itself; when empty
	// the terminal's scanner supplies it.
	Code string `json:"code,omitempty"`
	// Scene names the payment scene when the terminal runs several.
	Scene string `json:"scene,omitempty"`
	// IdempotencyKey (header Idempotency-Key) makes a retried POST return the same order.
	IdempotencyKey string `json:"-"`
}

// PaymentService creates and follows payments. Views are JSON-encoded as returned.
type PaymentService interface {
	Create(ctx context.Context, r PaymentRequest) (any, error)
	Get(ctx context.Context, id string) (any, error)
	Cancel(ctx context.Context, id string) (any, error)
	// List returns the orders in the given states (all orders when none), newest first,
	// at most limit of them.
	List(ctx context.Context, states []string, limit int) (any, error)
	// Settle records a person's resolution of a NEEDS_MANUAL order.
	Settle(ctx context.Context, id string, r SettleRequest) (any, error)
}

// SettleRequest is the body of POST /v1/payments/{id}/settle: what a person found when
// checking a NEEDS_MANUAL order with the platform (对账).
type SettleRequest struct {
	// Paid says the holder was charged and not refunded. Required.
	Paid *bool `json:"paid"`
	// Note says what the platform said (a ticket number, the statement line). Required.
	Note string `json:"note"`
}

// RecordSink validates an Appendix C record and stores it durably; it returns the
// record's stable id only once the record is on disk. With an idempotency key (may be
// empty) a record sent again is not stored again: the first one's id comes back with
// replayed true; the key reused for another record is ErrConflict.
type RecordSink interface {
	Accept(ctx context.Context, kind string, record json.RawMessage, idempotencyKey string) (id string, replayed bool, err error)
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 64

// idempotencyKey returns the request's Idempotency-Key header, or a field error: at most
// 64 printable ASCII characters without spaces.
func idempotencyKey(r *http.Request) (string, *FieldError) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > maxIdempotencyKey {
		return "", &FieldError{Field: "Idempotency-Key", Reason: "at most 64 characters"}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", &FieldError{Field: "Idempotency-Key", Reason: "printable ASCII characters without spaces"}
		}
	}
	return k, nil
}

// StatusSource reports the terminal's status.
type StatusSource interface{ Status() any }

// QueueSource reports queue statistics.
type QueueSource interface{ QueueStats() any }

// ReadSource serves the reads that kiosk and medical scenes hand to the application
// (the holder's data in clear, for a short time).
type ReadSource interface {
	Read(ctx context.Context, id string) (any, error)
}

// Errors the services return, mapped to HTTP statuses. Wrap them.
var (
	ErrNotFound    = errors.New("not found")               // 404
	ErrConflict    = errors.New("conflict")                // 409 (e.g. cancel of a paid order)
	ErrUnavailable = errors.New("temporarily unavailable") // 503
	ErrFull        = errors.New("storage full")            // 507: new business refused
)

// FieldError is one invalid field of a request.
type FieldError struct {
	Field string `json:"field"`
	// Rule is the rule that failed, when the validator names one (records: "n12",
	// "GB 11643", "C.9", "required", ...).
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
}

// InvalidError is a request refused at the door with the reason for every field.
type InvalidError struct {
	Fields []FieldError
	// Code is the prompt shown; zero means the general input format prompt (900001).
	Code prompt.Code
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid request:")
	for _, f := range e.Fields {
		fmt.Fprintf(&b, " %s: %s;", f.Field, f.Reason)
	}
	return b.String()
}

// Options are the collaborators of a Server. Nil services answer 501.
type Options struct {
	Config   Config
	Token    string
	Events   *event.Bus
	Payments PaymentService
	Records  RecordSink
	Status   StatusSource
	Queue    QueueSource
	Reads    ReadSource
	Logger   *slog.Logger
}

// Server is the local API. It implements agent.Part through Name and Run.
type Server struct {
	o   Options
	mux *http.ServeMux
	// ready receives the bound address once listening (tests, port 0).
	ready chan string
}

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// New builds the server. The token must not be empty.
func New(o Options) (*Server, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("localapi: empty token")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Events == nil {
		o.Events = event.NewBus(0)
	}
	s := &Server{o: o, mux: http.NewServeMux(), ready: make(chan string, 1)}
	for pattern, h := range s.routes() {
		s.mux.HandleFunc(pattern, h)
	}
	return s, nil
}

// routes maps each route ("METHOD /path", docs/local-api.openapi.yaml) to its handler.
func (s *Server) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v1/status":                s.status,
		"GET /v1/events":                s.events,
		"POST /v1/payments":             s.createPayment,
		"GET /v1/payments/{id}":         s.getPayment,
		"POST /v1/payments/{id}/cancel": s.cancelPayment,
		"GET /v1/payments":              s.listPayments,
		"POST /v1/payments/{id}/settle": s.settlePayment,
		"POST /v1/records":              s.postRecord,
		"GET /v1/queue":                 s.queue,
		"GET /v1/reads/{id}":            s.read,
	}
}

// Name implements agent.Part.
func (s *Server) Name() string { return "localapi" }

// Addr returns the bound address once the server listens.
func (s *Server) Addr(ctx context.Context) (string, error) {
	select {
	case a := <-s.ready:
		s.ready <- a
		return a, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// BoundAddr returns the bound address once the server listens, "" before.
func (s *Server) BoundAddr() string {
	select {
	case a := <-s.ready:
		s.ready <- a
		return a
	default:
		return ""
	}
}

// Handler returns the API's handler with authentication, loopback and CORS checks.
func (s *Server) Handler() http.Handler { return s.guard(s.mux) }

// Run serves until ctx is done, then shuts down gracefully (open event streams end).
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.o.Config.Listen)
	if err != nil {
		return fmt.Errorf("localapi: %w", err)
	}
	select {
	case <-s.ready:
	default:
	}
	s.ready <- ln.Addr().String()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.o.Logger.Info("local API listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("localapi: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && !isLoopbackHost(host) {
			writeError(w, http.StatusForbidden, prompt.CodeNotAllowed, "loopback clients only", nil)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			allowed := false
			for _, o := range s.o.Config.AllowOrigins {
				allowed = allowed || o == origin
			}
			if !allowed {
				writeError(w, http.StatusForbidden, prompt.CodeNotAllowed, "origin not allowed", nil)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Idempotency-Key, Last-Event-ID")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sscagent"`)
			writeError(w, http.StatusUnauthorized, prompt.CodeNotAllowed, "missing or wrong bearer token", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok && r.Method == http.MethodGet && r.URL.Path == "/v1/events" {
		// Browsers' EventSource cannot set headers; the stream alone takes the token as
		// a query parameter. Query strings are never logged.
		tok, ok = r.URL.Query().Get("access_token"), true
	}
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.o.Token)) == 1
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if s.o.Status == nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
		return
	}
	writeJSON(w, http.StatusOK, s.o.Status.Status())
}

func (s *Server) queue(w http.ResponseWriter, r *http.Request) {
	if s.o.Queue == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no queue on this terminal", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.o.Queue.QueueStats())
}

// events streams masked events as Server-Sent Events. Last-Event-ID (or ?since=) replays
// the remembered events after that sequence number, so a reconnecting page misses none
// that the agent still holds.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, prompt.CodeInternal, "streaming unsupported", nil)
		return
	}
	var since uint64
	replay := false
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("since")} {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			since, replay = n, true
		}
	}
	sub := s.o.Events.Subscribe(256, replay, since)
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-sub.C():
			if d := sub.Dropped(); d > 0 {
				fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", d)
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, b)
		}
		fl.Flush()
	}
}

// hasPayments answers 404 when the terminal has no payment scene.
func (s *Server) hasPayments(w http.ResponseWriter) bool {
	if s.o.Payments == nil {
		writeError(w, http.StatusNotFound, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return false
	}
	return true
}

// answer writes v with status, or the error err as fail does.
func (s *Server) answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, status, v)
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	if s.o.Payments == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return
	}
	var req PaymentRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	key, kerr := idempotencyKey(r)
	if kerr != nil {
		fe = append(fe, *kerr)
	}
	req.IdempotencyKey = key
	if req.Amount < 1 || req.Amount > 100_000_000 {
		fe = append(fe, FieldError{Field: "amount", Reason: "must be an integer number of fen from 1 to 100000000"})
	}
	if n := len([]rune(req.Subject)); n == 0 || n > 120 {
		fe = append(fe, FieldError{Field: "subject", Reason: "required, at most 120 characters"})
	}
	if len(req.Code) > 512 {
		fe = append(fe, FieldError{Field: "code", Reason: "at most 512 characters"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Payments.Create(r.Context(), req)
	s.answer(w, http.StatusAccepted, v, err)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	v, err := s.o.Payments.Get(r.Context(), r.PathValue("id"))
	s.answer(w, http.StatusOK, v, err)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	v, err := s.o.Payments.Cancel(r.Context(), r.PathValue("id"))
	s.answer(w, http.StatusAccepted, v, err)
}

// maxList bounds GET /v1/payments.
const maxList = 500

// listPayments is GET /v1/payments?state=S[,S...]&limit=N.
func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	var states []string
	for _, v := range r.URL.Query()["state"] {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				states = append(states, strings.ToUpper(st))
			}
		}
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxList {
			s.fail(w, &InvalidError{Fields: []FieldError{{Field: "limit", Reason: fmt.Sprintf("an integer from 1 to %d", maxList)}}})
			return
		}
		limit = n
	}
	v, err := s.o.Payments.List(r.Context(), states, limit)
	s.answer(w, http.StatusOK, v, err)
}

// settlePayment is POST /v1/payments/{id}/settle.
func (s *Server) settlePayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	var req SettleRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	if req.Paid == nil {
		fe = append(fe, FieldError{Field: "paid", Reason: "required: true if the holder was charged and not refunded"})
	}
	if n := len([]rune(strings.TrimSpace(req.Note))); n == 0 || n > 200 {
		fe = append(fe, FieldError{Field: "note", Reason: "required, at most 200 characters: what the platform said"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Payments.Settle(r.Context(), r.PathValue("id"), req)
	s.answer(w, http.StatusOK, v, err)
}

// recordRequest is the body of POST /v1/records.
type recordRequest struct {
	// Type is credential (C.3 办事凭证), payment (C.4 支付结算) or benefit (C.5 待遇发放).
	Type   string          `json:"type"`
	Record json.RawMessage `json:"record"`
}

func (s *Server) postRecord(w http.ResponseWriter, r *http.Request) {
	if s.o.Records == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "records are not accepted on this terminal", nil)
		return
	}
	var req recordRequest
	if !decodeBody(w, r, &req) {
		return
	}
	key, kerr := idempotencyKey(r)
	if kerr != nil {
		s.fail(w, &InvalidError{Fields: []FieldError{*kerr}})
		return
	}
	if req.Type == "" || len(req.Record) == 0 || req.Record[0] != '{' {
		s.fail(w, &InvalidError{Fields: []FieldError{{Field: "type", Reason: "required: credential, payment or benefit"},
			{Field: "record", Reason: "required: a JSON object"}}})
		return
	}
	id, replayed, err := s.o.Records.Accept(r.Context(), req.Type, req.Record, key)
	if err != nil {
		s.fail(w, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued"})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) {
	if s.o.Reads == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no kiosk or medical scene on this terminal", nil)
		return
	}
	v, err := s.o.Reads.Read(r.Context(), r.PathValue("id"))
	s.answer(w, http.StatusOK, v, err)
}

func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, prompt.CodeBadInput, "Content-Type must be application/json", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, prompt.CodeBadInput, "body larger than 64 KiB", nil)
			return false
		}
		writeError(w, http.StatusBadRequest, prompt.CodeBadInput, "body is not valid JSON for this request: "+err.Error(), nil)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, prompt.CodeBadInput, "trailing data after the JSON body", nil)
		return false
	}
	return true
}

// fail maps a service error to a status and a prompt.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var inv *InvalidError
	var coded interface{ PromptCode() prompt.Code }
	code := prompt.CodeInternal
	if errors.As(err, &coded) {
		code = coded.PromptCode()
	}
	switch {
	case errors.As(err, &inv):
		c := inv.Code
		if c == 0 {
			c = prompt.CodeBadInput
		}
		writeError(w, http.StatusUnprocessableEntity, c, "invalid fields", inv.Fields)
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, code, err.Error(), nil)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, code, err.Error(), nil)
	case errors.Is(err, ErrFull):
		writeError(w, http.StatusInsufficientStorage, prompt.CodeDiskFull, err.Error(), nil)
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, code, err.Error(), nil)
	default:
		s.o.Logger.Error("local API request failed", "err", err)
		writeError(w, http.StatusInternalServerError, code, "internal error", nil)
	}
}

// errorBody is every error answer: the message, the 8.4 prompts and the field errors.
type errorBody struct {
	Error struct {
		Message string         `json:"message"`
		Prompts prompt.Prompts `json:"prompts"`
		Fields  []FieldError   `json:"fields,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code prompt.Code, msg string, fields []FieldError) {
	var b errorBody
	b.Error.Message = msg
	b.Error.Prompts = prompt.Lookup(code).All(prompt.ZH)
	b.Error.Fields = fields
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

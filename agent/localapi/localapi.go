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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Options are the collaborators of a Server. Nil services answer 501.
type Options struct {
	Config   Config
	Token    string
	Events   *event.Bus
	Payments PaymentService
	Refunds  RefundService
	Records  RecordSink
	Status   StatusSource
	Queue    QueueSource
	Reads    ReadSource
	Cards    CardReader
	Medical  MedicalService
	Face     FaceService
	Login    LoginService
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
		"GET /v1/status":                 s.status,
		"GET /v1/events":                 s.events,
		"POST /v1/payments":              s.createPayment,
		"GET /v1/payments/{id}":          s.getPayment,
		"POST /v1/payments/{id}/cancel":  s.cancelPayment,
		"GET /v1/payments":               s.listPayments,
		"POST /v1/payments/{id}/settle":  s.settlePayment,
		"POST /v1/payments/{id}/refunds": s.createRefund,
		"GET /v1/refunds/{no}":           s.getRefund,
		"POST /v1/records":               s.postRecord,
		"GET /v1/queue":                  s.queue,
		"GET /v1/reads/{id}":             s.read,
		"POST /v1/card/read":             s.readCard,
		"POST /v1/card/hsm/step1":        s.hsmStep1,
		"POST /v1/card/hsm/step2":        s.hsmStep2,
		"POST /v1/medical/settle":        s.medicalSettle,
		"POST /v1/face":                  s.verifyFace,
		"POST /v1/login":                 s.startLogin,
		"GET /v1/login/{id}":             s.getLogin,
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

// WaitUp returns nil once the server listens, or ctx's error (the agent's readiness,
// systemd's READY=1, waits for it).
func (s *Server) WaitUp(ctx context.Context) error {
	select {
	case a := <-s.ready:
		s.ready <- a
		return nil
	case <-ctx.Done():
		return ctx.Err()
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

// Package localapi is the HTTP interface for the kiosk, gate and POS applications that
// run on the same machine: status, a Server-Sent Events stream of masked events, payment
// requests, the application's own business records to flow back, and queue statistics.
// docs/local-api.md and docs/local-api.openapi.yaml describe it.
//
// It listens on loopback only (and optionally on a Unix socket), and every request
// carries a bearer token: each token has a name and scopes (gate, kiosk, operator) that
// decide which routes it may call, and a gate token never receives personal data, not
// even masked in events. Every answer with clear personal data is first written to the
// audit log (internal/audit). The package owns small interfaces for what it serves
// (PaymentService, RecordSink, StatusSource, QueueSource, ...); the agent implements
// them.
package localapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Options are the collaborators of a Server. Nil services answer 501.
type Options struct {
	Config Config
	// Token is a single token with every scope, named "tokenFile" (the deprecated
	// localapi.tokenFile); Tokens are the scoped ones. At least one is needed.
	Token  string
	Tokens []Token
	// Audit records every answer with clear personal data; without it such answers
	// are refused (503).
	Audit    Auditor
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
	o      Options
	tokens []Token
	mux    *http.ServeMux
	// ready receives the bound address once listening (tests, port 0).
	ready chan string
}

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// New builds the server. It needs at least one token.
func New(o Options) (*Server, error) {
	tokens := slices.Clone(o.Tokens)
	if strings.TrimSpace(o.Token) != "" {
		tokens = append(tokens, Token{Name: LegacyTokenName, Scopes: Scopes, Hash: HashToken(strings.TrimSpace(o.Token))})
	}
	if len(tokens) == 0 {
		return nil, errors.New("localapi: no token")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Events == nil {
		o.Events = event.NewBus(0)
	}
	s := &Server{o: o, tokens: tokens, mux: http.NewServeMux(), ready: make(chan string, 1)}
	for pattern, rt := range s.routes() {
		s.mux.HandleFunc(pattern, s.scoped(pattern, rt))
	}
	return s, nil
}

// routes maps each route ("METHOD /path", docs/local-api.openapi.yaml) to its handler
// and the scopes that may call it (docs/local-api.md has the same table).
func (s *Server) routes() map[string]route {
	return map[string]route{
		"GET /v1/status":                 {s.status, anyScope},
		"GET /v1/events":                 {s.events, anyScope},
		"GET /v1/queue":                  {s.queue, anyScope},
		"POST /v1/payments":              {s.createPayment, kiosk},
		"GET /v1/payments/{id}":          {s.getPayment, both},
		"POST /v1/payments/{id}/cancel":  {s.cancelPayment, kiosk},
		"GET /v1/payments":               {s.listPayments, both},
		"POST /v1/payments/{id}/settle":  {s.settlePayment, operator},
		"POST /v1/payments/{id}/refunds": {s.createRefund, operator},
		"GET /v1/refunds/{no}":           {s.getRefund, both},
		"POST /v1/records":               {s.postRecord, kiosk},
		"GET /v1/reads/{id}":             {s.read, kiosk},
		"POST /v1/card/read":             {s.readCard, kiosk},
		"POST /v1/card/hsm/step1":        {s.hsmStep1, kiosk},
		"POST /v1/card/hsm/step2":        {s.hsmStep2, kiosk},
		"POST /v1/medical/settle":        {s.medicalSettle, kiosk},
		"POST /v1/face":                  {s.verifyFace, kiosk},
		"POST /v1/login":                 {s.startLogin, kiosk},
		"GET /v1/login/{id}":             {s.getLogin, kiosk},
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
	var sock net.Listener
	if p := s.o.Config.Socket.Path; p != "" {
		if sock, err = listenSocket(p, s.o.Config.Socket.Group); err != nil {
			ln.Close()
			return fmt.Errorf("localapi: socket: %w", err)
		}
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
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if sock != nil {
		go func() { errc <- srv.Serve(sock) }()
		s.o.Logger.Info("local API listening", "socket", s.o.Config.Socket.Path)
	}
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
		t := s.authenticate(r)
		if t == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sscagent"`)
			writeError(w, http.StatusUnauthorized, prompt.CodeNotAllowed, "missing or wrong bearer token", nil)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, t)))
	})
}

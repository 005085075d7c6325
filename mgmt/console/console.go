// Package console is the terminal managers' web console (docs/fleet-console.md): a
// live model of every terminal fed by one fleet subscription (state, telemetry with a
// bounded history, masked events, configuration reports, command results), a terminal
// table filtered, sorted and paged on the server, a page per terminal, configuration
// rollouts in batches that can be watched and stopped, and commands. Pages update over
// server-sent events. Managers log in with a token; every mutating request needs the
// session's CSRF token and is written to an audit log before it is acted on. The
// assets are embedded: plain HTML, CSS and one small script, no network needed.
package console

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sscagent/sscagent/mgmt/fleet"
)

// Fleet is what the console needs of the fleet client (*fleet.Client).
type Fleet interface {
	Follow(ctx context.Context, fn func(fleet.Update), synced func()) error
	PushConfig(ctx context.Context, ids []string, doc []byte, o fleet.PushOptions) ([]fleet.PushResult, error)
	Command(ctx context.Context, ids []string, name string, args json.RawMessage, timeout time.Duration) ([]fleet.CommandResult, error)
}

var _ Fleet = (*fleet.Client)(nil)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	Fleet    Fleet     // required
	Managers []Manager // required: who may log in
	Audit    *Audit    // required
	// StaleAfter: telemetry older than this marks a terminal stale. Default 3m.
	StaleAfter time.Duration
	// SessionTTL bounds a login. Default 12h.
	SessionTTL time.Duration
	// Secure marks the session cookie Secure (set when serving HTTPS).
	Secure bool
	Log    *slog.Logger
}

// Server is the console: the model, the rollouts and the HTTP handlers.
type Server struct {
	o        Options
	model    *Model
	sessions *sessions
	rollouts rollouts
	mux      *http.ServeMux
}

// New builds a console; Run feeds its model.
func New(o Options) (*Server, error) {
	if o.Fleet == nil {
		return nil, errors.New("console: no fleet client")
	}
	if len(o.Managers) == 0 {
		return nil, errors.New("console: no manager token")
	}
	if o.Audit == nil {
		return nil, errors.New("console: no audit log")
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3 * time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s := &Server{o: o, model: NewModel(o.StaleAfter), sessions: &sessions{ttl: o.SessionTTL, m: map[string]*session{}}}
	s.routes()
	return s, nil
}

// Model returns the live model.
func (s *Server) Model() *Model { return s.model }

// ServeHTTP serves the console.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(w, r)
}

// Run feeds the model from the broker until ctx ends, subscribing again after a
// failure, and stops running rollouts at the end.
func (s *Server) Run(ctx context.Context) error {
	defer s.rollouts.stopAll()
	for {
		err := s.o.Fleet.Follow(ctx, s.model.Apply, s.model.Synced)
		if ctx.Err() != nil {
			return nil
		}
		s.o.Log.Warn("console: fleet subscription ended; subscribing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// CheckListen refuses to serve plain HTTP on anything but a loopback address.
func CheckListen(addr string, tlsOn bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen %q: %w", addr, err)
	}
	if tlsOn {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen %q: plain HTTP only on a loopback address (127.0.0.1, ::1, localhost); give --cert and --key to serve HTTPS elsewhere", addr)
}

// ServeOptions say where and how to listen.
type ServeOptions struct {
	Listen string
	// CertFile and KeyFile (PEM) serve HTTPS; without them only loopback HTTP.
	CertFile, KeyFile string
	// Ready, when set, is called with the address listened on.
	Ready func(addr string)
}

// Serve listens and serves the console and runs the model until ctx ends.
func (s *Server) Serve(ctx context.Context, so ServeOptions) error {
	tlsOn := so.CertFile != "" || so.KeyFile != ""
	if tlsOn && (so.CertFile == "" || so.KeyFile == "") {
		return errors.New("console: --cert and --key go together")
	}
	if err := CheckListen(so.Listen, tlsOn); err != nil {
		return err
	}
	s.o.Secure = tlsOn
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	var l net.Listener
	var err error
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(so.CertFile, so.KeyFile)
		if err != nil {
			return fmt.Errorf("console: certificate: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		l, err = tls.Listen("tcp", so.Listen, hs.TLSConfig)
		if err != nil {
			return fmt.Errorf("console: %w", err)
		}
	} else if l, err = net.Listen("tcp", so.Listen); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if so.Ready != nil {
		scheme := "http"
		if tlsOn {
			scheme = "https"
		}
		so.Ready(scheme + "://" + strings.Replace(l.Addr().String(), "[::]", "localhost", 1))
	}
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	serveDone := make(chan error, 1)
	go func() { serveDone <- hs.Serve(l) }()
	select {
	case <-ctx.Done():
	case err := <-serveDone:
		return fmt.Errorf("console: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx) // SSE streams end with ctx (BaseContext)
	return <-runDone
}

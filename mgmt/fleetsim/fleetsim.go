// Package fleetsim simulates terminals for terminal management at scale: each is a real
// mgmt.Session, exactly as the agent runs it (its own state directory and persisted
// epoch, a will, a retained birth, telemetry, the built-in commands, and a rollout engine
// validating pushed documents with the agent's rules through Applier), and one process
// runs thousands of them over real MQTT connections ("sscsim fleet", the scale
// benchmarks). The terminals are test terminals (terminal.test: true): they take unsigned
// documents and commands when no manager key is pinned (docs/mgmt-protocol.md §10.1).
package fleetsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// NewTerminal builds a real mgmt.Session for terminal id: its own state directory under
// dir (persisted epoch), a will, a retained birth, telemetry, and a rollout engine
// validating with the agent's rules (the returned Applier) against a platform at
// platformURL. o's Identity, StateDir and Rollout are filled in; its zero Events,
// Scenes, Source and telemetry interval get defaults (a holder reader with a card, a
// queue of 1, the platform up, telemetry every second). Its health gate waits up to
// 30 s. The caller runs it.
func NewTerminal(dir, id, platformURL string, o mgmt.Options) (*mgmt.Session, *Applier, error) {
	return newTerminal(dir, id, platformURL, 30*time.Second, o)
}

func newTerminal(dir, id, platformURL string, window time.Duration, o mgmt.Options) (*mgmt.Session, *Applier, error) {
	d := filepath.Join(dir, id)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, nil, err
	}
	app, err := NewApplier(d, BaseConfig(id, platformURL, filepath.Join(d, "state")))
	if err != nil {
		return nil, nil, err
	}
	eng, err := rollout.Open(rollout.Options{Dir: filepath.Join(d, "state", "rollout"), Applier: app, Window: window, Interval: 100 * time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := app.Running()
	o.Identity, o.StateDir, o.Rollout = cfg.Terminal, cfg.Agent.StateDir, eng
	if o.Events == nil {
		o.Events = event.NewBus(16)
	}
	if o.Scenes == nil {
		o.Scenes = []mgmt.Scene{{Name: "gate", Kind: "identity"}}
	}
	if o.Source == nil {
		o.Source = mgmt.SourceFunc(func(context.Context) mgmt.Devices {
			return mgmt.Devices{Readers: []mgmt.Reader{{Name: "Virtual PCD 00 00", Role: "holder", Present: true}},
				Queue: &mgmt.Queue{Depth: 1}, Platform: &mgmt.Platform{Up: true}}
		})
	}
	if o.Config.TelemetryInterval == 0 {
		o.Config.TelemetryInterval = config.Duration(time.Second)
	}
	s, err := mgmt.New(o)
	if err != nil {
		return nil, nil, err
	}
	return s, app, nil
}

// Options shape a simulated fleet. Zero values take the defaults noted.
type Options struct {
	// Brokers are the broker URLs. Terminal i gets all of them, rotated by i, so that
	// the terminals spread over the nodes of a cluster.
	Brokers []string
	// Terminals is how many to run; required.
	Terminals int
	// IDPrefix starts every terminal id; default "SIM-" (SIM-00000, SIM-00001, …).
	IDPrefix string
	// TopicPrefix roots the topic tree; default mgmt.DefaultPrefix.
	TopicPrefix string
	// Dir holds the terminals' state directories; required.
	Dir string
	// Telemetry is the telemetry interval; default 30s (the agent's default).
	Telemetry time.Duration
	// KeepAlive default 30s.
	KeepAlive time.Duration
	// Stagger is the pause between two terminals' starts; default 1ms (10,000 in 10 s).
	Stagger time.Duration
	// HealthWindow is how long a terminal's health gate waits; default 2m (the
	// agent's). A push to 10,000 terminals keeps the simulator's cores busy for a minute
	// or more, and a terminal's gate can wait its turn for tens of seconds.
	HealthWindow time.Duration
	// Logger receives every terminal's log (nil: discarded).
	Logger *slog.Logger
}

// ownPlatform answers requests to the fleet's own platform (host) in process, as its
// server would (200, empty), and passes every other request to next.
type ownPlatform struct {
	host string
	next http.RoundTripper
}

func (p ownPlatform) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != p.host {
		return p.next.RoundTrip(req)
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: req}, nil
}

// Fleet is a running simulated fleet.
type Fleet struct {
	// IDs are the terminal ids, in start order.
	IDs []string

	platform *http.Server
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex // guards errs
	errs     []error
}

// Start builds every terminal, then starts them one every o.Stagger (returning once
// all are started; they connect on their own) until ctx ends or Stop. The platform
// their health gate probes is a local HTTP server of the fleet's own, which their
// shared HTTP client answers in process (ownPlatform): a push to every terminal runs
// thousands of health gates at once, and over loopback they overflowed the server's
// accept queue at 10,000 (EOF, deadline: healthy terminals rolled back), while a small
// pool of kept-alive connections starved behind the busy simulator's goroutines.
// A pushed platform.baseURL elsewhere is probed over the network as on a terminal.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	if o.Terminals <= 0 {
		return nil, errors.New("fleetsim: no terminals")
	}
	if len(o.Brokers) == 0 {
		return nil, errors.New("fleetsim: no broker")
	}
	if o.Dir == "" {
		return nil, errors.New("fleetsim: no state directory")
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "SIM-"
	}
	if o.Telemetry <= 0 {
		o.Telemetry = 30 * time.Second
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.Stagger <= 0 {
		o.Stagger = time.Millisecond
	}
	if o.HealthWindow <= 0 {
		o.HealthWindow = 2 * time.Minute
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fleetsim: platform: %w", err)
	}
	f := &Fleet{platform: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = f.platform.Serve(l) }()
	platformURL := "http://" + l.Addr().String()
	hc := &http.Client{Transport: ownPlatform{host: l.Addr().String(), next: http.DefaultTransport}}
	sessions := make([]*mgmt.Session, o.Terminals)
	for i := range sessions {
		id := fmt.Sprintf("%s%05d", o.IDPrefix, i)
		brokers := append(append([]string(nil), o.Brokers[i%len(o.Brokers):]...), o.Brokers[:i%len(o.Brokers)]...)
		var log *slog.Logger
		if o.Logger != nil {
			log = o.Logger.With("terminal", id)
		}
		s, app, err := newTerminal(o.Dir, id, platformURL, o.HealthWindow, mgmt.Options{Logger: log,
			Config: mgmt.Config{Brokers: brokers, TopicPrefix: o.TopicPrefix, TelemetryInterval: config.Duration(o.Telemetry),
				KeepAlive: config.Duration(o.KeepAlive)}})
		if err != nil {
			f.platform.Close()
			return nil, fmt.Errorf("fleetsim: terminal %s: %w", id, err)
		}
		app.Client = hc
		sessions[i] = s
		f.IDs = append(f.IDs, id)
	}
	ctx, f.cancel = context.WithCancel(ctx)
	t := time.NewTicker(o.Stagger)
	defer t.Stop()
	for i, s := range sessions {
		if i > 0 {
			select {
			case <-ctx.Done():
				return f, nil
			case <-t.C:
			}
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				f.mu.Lock()
				f.errs = append(f.errs, fmt.Errorf("%s: %w", f.IDs[i], err))
				f.mu.Unlock()
			}
		}()
	}
	return f, nil
}

// Stop ends every terminal cleanly (each publishes its offline state) and returns the
// errors of those that ended on their own.
func (f *Fleet) Stop() error {
	f.cancel()
	f.wg.Wait()
	f.platform.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	return errors.Join(f.errs...)
}

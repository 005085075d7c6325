//go:build linux

package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// sim is one simulated terminal: a real mgmt.Session, exactly as the agent runs it,
// with its own state directory and persisted epoch, a will, a retained birth,
// telemetry every second, and a rollout engine validating with the agent's rules.
type sim struct {
	id          string
	firstBroker string // the broker it tries first
	s           *mgmt.Session
	cancel      context.CancelFunc
	done        chan error
}

// simOptions shape newSims.
type simOptions struct {
	// Brokers returns terminal i's broker list.
	Brokers func(i int) []string
	// Commands are added to every terminal's commands.
	Commands func(id string) map[string]mgmt.Command
	// KeepAlive default 30s.
	KeepAlive time.Duration
	// Telemetry is the telemetry interval; default 1s.
	Telemetry time.Duration
	// Logger receives every terminal's log (nil: discard).
	Logger *slog.Logger
	// Reconnect shapes the reconnects (zero: the defaults).
	Reconnect mgmt.Reconnect
}

// newSims builds n terminals SIM-00000… without starting them.
func newSims(t *testing.T, n int, o simOptions) []*sim {
	t.Helper()
	platform := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(platform.Close)
	if o.KeepAlive == 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.Telemetry == 0 {
		o.Telemetry = time.Second
	}
	root := t.TempDir()
	sims := make([]*sim, n)
	for i := range sims {
		id := fmt.Sprintf("SIM-%05d", i)
		dir := filepath.Join(root, id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		app, err := mgmttest.NewApplier(dir, mgmttest.BaseConfig(id, platform.URL, filepath.Join(dir, "state")))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := rollout.Open(rollout.Options{Dir: filepath.Join(dir, "state", "rollout"), Applier: app, Window: 30 * time.Second, Interval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := app.Running()
		var cmds map[string]mgmt.Command
		if o.Commands != nil {
			cmds = o.Commands(id)
		}
		var log *slog.Logger
		if o.Logger != nil {
			log = o.Logger.With("terminal", id)
		}
		s, err := mgmt.New(mgmt.Options{Logger: log, Identity: cfg.Terminal, StateDir: cfg.Agent.StateDir, Rollout: eng, Events: event.NewBus(16),
			Scenes: []mgmt.Scene{{Name: "gate", Kind: "identity"}}, Commands: cmds,
			Source: mgmt.SourceFunc(func(context.Context) mgmt.Devices {
				return mgmt.Devices{Readers: []mgmt.Reader{{Name: "Virtual PCD 00 00", Role: "holder", Present: true}},
					Queue: &mgmt.Queue{Depth: 1}, Platform: &mgmt.Platform{Up: true}}
			}),
			Config: mgmt.Config{Brokers: o.Brokers(i), TelemetryInterval: config.Duration(o.Telemetry),
				KeepAlive: config.Duration(o.KeepAlive), Reconnect: o.Reconnect}})
		if err != nil {
			t.Fatal(err)
		}
		sims[i] = &sim{id: id, firstBroker: o.Brokers(i)[0], s: s, done: make(chan error, 1)}
	}
	return sims
}

// startSims runs every terminal until the test ends.
func startSims(t *testing.T, sims []*sim) {
	for _, sm := range sims {
		ctx, cancel := context.WithCancel(context.Background())
		sm.cancel = cancel
		go func() { sm.done <- sm.s.Run(ctx) }()
	}
	t.Cleanup(func() {
		for _, sm := range sims {
			if sm.cancel != nil {
				sm.cancel()
				<-sm.done
			}
		}
	})
}

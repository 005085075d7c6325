//go:build linux

package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
)

// sim is one simulated terminal: a real mgmt.Session, exactly as the agent runs it,
// with its own state directory and persisted epoch, a will, a retained birth,
// telemetry every second, and a rollout engine validating with the agent's rules.
type sim struct {
	id     string
	s      *mgmt.Session
	cancel context.CancelFunc
	done   chan error
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
		var cmds map[string]mgmt.Command
		if o.Commands != nil {
			cmds = o.Commands(id)
		}
		var log *slog.Logger
		if o.Logger != nil {
			log = o.Logger.With("terminal", id)
		}
		s := mgmttest.NewSession(t, root, id, platform.URL, mgmt.Options{Logger: log, Commands: cmds,
			Config: mgmt.Config{Brokers: o.Brokers(i), TelemetryInterval: config.Duration(o.Telemetry),
				KeepAlive: config.Duration(o.KeepAlive), Reconnect: o.Reconnect}})
		sims[i] = &sim{id: id, s: s, done: make(chan error, 1)}
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

package mgmttest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// NewSession builds a real mgmt.Session for terminal id, exactly as the agent runs it:
// its own state directory under dir (persisted epoch), a will, a retained birth,
// telemetry, and a rollout engine validating with the agent's rules (Applier) against
// a platform at platformURL. o's Identity, StateDir and Rollout are filled in; its
// zero Events, Scenes, Source and telemetry interval get test defaults (a holder reader
// with a card, a queue of 1, the platform up, telemetry every second). The caller runs it.
func NewSession(t testing.TB, dir, id, platformURL string, o mgmt.Options) *mgmt.Session {
	t.Helper()
	d := filepath.Join(dir, id)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	app, err := NewApplier(d, BaseConfig(id, platformURL, filepath.Join(d, "state")))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rollout.Open(rollout.Options{Dir: filepath.Join(d, "state", "rollout"), Applier: app, Window: 30 * time.Second, Interval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	return s
}

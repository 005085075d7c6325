package mgmttest

import (
	"testing"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleetsim"
)

// NewSession builds a real mgmt.Session for terminal id, exactly as the agent runs it
// (fleetsim.NewTerminal): its own state directory under dir (persisted epoch), a will,
// a retained birth, telemetry, and a rollout engine validating with the agent's rules
// against a platform at platformURL. o's Identity, StateDir and Rollout are filled in;
// its zero Events, Scenes, Source and telemetry interval get test defaults (a holder
// reader with a card, a queue of 1, the platform up, telemetry every second). The
// caller runs it.
func NewSession(t testing.TB, dir, id, platformURL string, o mgmt.Options) *mgmt.Session {
	t.Helper()
	s, _, err := fleetsim.NewTerminal(dir, id, platformURL, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

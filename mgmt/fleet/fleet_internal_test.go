package fleet

import (
	"testing"
	"time"

	"github.com/sscagent/sscagent/mgmt"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/+/state", "a/T1/state", true},
		{"a/+/state", "a/T1/telemetry", false},
		{"a/+/state", "a/T1/state/x", false},
		{"a/#", "a/T1/cmd/x/result", true},
		{"a/+/cmd/+/result", "a/T1/cmd/x/result", true},
		{"a/+/cmd/+/result", "a/T1/cmd/x", false},
		{"a/T1/state", "a/T1/state", true},
		{"a/T1/state", "a/T2/state", false},
	} {
		if got := match(c.filter, c.topic); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}

func TestJudgePresence(t *testing.T) {
	c := &Client{o: Options{StaleAfter: time.Minute}}
	now := time.Now()
	tel := func(epoch uint64, age time.Duration) *mgmt.Telemetry {
		return &mgmt.Telemetry{V: 1, Epoch: epoch, Time: now.Add(-age), Health: mgmt.Health{Status: mgmt.HealthOK}}
	}
	for name, c2 := range map[string]struct {
		state      *mgmt.State
		telemetry  *mgmt.Telemetry
		presence   string
		staleDeath bool
		stale      bool
		epoch      uint64
	}{
		"online":                  {&mgmt.State{Status: "online", Epoch: 4}, tel(4, time.Second), Online, false, false, 4},
		"online, silent":          {&mgmt.State{Status: "online", Epoch: 4}, tel(4, time.Hour), Online, false, true, 4},
		"dead":                    {&mgmt.State{Status: "offline", Epoch: 4}, tel(4, time.Second), Offline, false, false, 4},
		"stale will, alive":       {&mgmt.State{Status: "offline", Epoch: 3}, tel(4, time.Second), Online, true, false, 4},
		"stale will, then silent": {&mgmt.State{Status: "offline", Epoch: 3}, tel(4, time.Hour), Offline, true, true, 4},
		"telemetry only":          {nil, tel(4, time.Second), Unknown, false, false, 0},
	} {
		tm := &Terminal{ID: "T", State: c2.state, Telemetry: c2.telemetry}
		c.judge(tm, now)
		if tm.Presence != c2.presence || tm.StaleDeath != c2.staleDeath || tm.Stale != c2.stale || tm.Epoch != c2.epoch {
			t.Errorf("%s: presence %s staleDeath %v stale %v epoch %d", name, tm.Presence, tm.StaleDeath, tm.Stale, tm.Epoch)
		}
	}
}

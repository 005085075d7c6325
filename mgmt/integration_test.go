package mgmt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

func broker(t *testing.T, o labtest.MosquittoOptions) *labtest.Mosquitto {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against mosquitto")
	}
	t.Parallel()
	return labtest.StartMosquitto(t, o)
}

func TestIntegrationBirthTelemetryCleanStop(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	tp := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: "KIOSK-0001"}
	w := watch(t, b.URL, tp.State(), tp.Telemetry())
	tm := startTerm(t, b.URL, "KIOSK-0001", termOpts{})
	tm.source.set(mgmt.Devices{
		Readers:  []mgmt.Reader{{Name: "Virtual PCD 00 00", Role: "holder", Present: true}, {Name: "Virtual PCD 00 01", Role: "psam", Present: true, Card: true}},
		PSAMs:    []mgmt.PSAM{{Reader: "Virtual PCD 00 01", Status: "locked", TerminalNo: "350100000001"}},
		Scanners: []mgmt.Scanner{{Name: "front", Connected: true, Scans: 12}},
		Queue:    &mgmt.Queue{Depth: 4, OldestAgeSeconds: 30},
		Platform: &mgmt.Platform{Up: true, ClockSkewSeconds: -1.5},
	})

	m, _ := w.wait(0, "birth", stateIs(tp, mgmt.StatusOnline, 0))
	birth := decodeState(t, m)
	if birth.Epoch != 1 || birth.Terminal == nil || birth.Terminal.ID != "KIOSK-0001" || birth.Terminal.CreditCode != "91350100M000100Y43" ||
		birth.Terminal.Region != "350100" || len(birth.Terminal.CardModes) != 2 || len(birth.Scenes) != 1 ||
		birth.Software == nil || birth.Config == nil || birth.Boot == "" || birth.StartedAt == nil {
		t.Fatalf("birth %+v", birth)
	}
	m, _ = w.wait(0, "telemetry with devices", func(m mqttc.Message) bool {
		var tl mgmt.Telemetry
		return m.Topic == tp.Telemetry() && json.Unmarshal(m.Payload, &tl) == nil && len(tl.PSAMs) == 1
	})
	var tl mgmt.Telemetry
	json.Unmarshal(m.Payload, &tl)
	if tl.Epoch != 1 || tl.Health.Status != mgmt.HealthDegraded || len(tl.Health.Problems) != 1 ||
		!strings.Contains(tl.Health.Problems[0], "locked") || tl.Queue.Depth != 4 || tl.Process.Goroutines == 0 ||
		tl.Link.Connects != 1 || tl.Platform.ClockSkewSeconds != -1.5 {
		t.Fatalf("telemetry %s", m.Payload)
	}
	if !m.Retained && m.QoS != 0 {
		t.Fatalf("telemetry qos %d", m.QoS)
	}

	// The manager's view.
	f := dialFleet(t, b.URL)
	list, err := f.List(ctxFor(t, 10*time.Second), nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v %v", list, err)
	}
	if l := list[0]; l.Presence != fleet.Online || l.Epoch != 1 || l.Health != mgmt.HealthDegraded || l.Stale || l.State.Terminal.Site != "测试网点" {
		t.Fatalf("list entry %+v", l)
	}

	// A clean stop publishes offline with the same epoch; a restart gets the next one.
	n := len(w.all())
	tm.stop()
	m, _ = w.wait(n, "offline", stateIs(tp, mgmt.StatusOffline, 1))
	if s := decodeState(t, m); s.Reason != mgmt.ReasonShutdown {
		t.Fatalf("clean stop state %+v", s)
	}
	tm2 := startTerm(t, b.URL, "KIOSK-0001", termOpts{root: tm.root})
	w.wait(n, "second birth", stateIs(tp, mgmt.StatusOnline, 2))
	list, _ = f.List(ctxFor(t, 10*time.Second), nil)
	if len(list) != 1 || list[0].Presence != fleet.Online || list[0].Epoch != 2 {
		t.Fatalf("list after restart %+v", list)
	}
	tm2.stop()
	list, _ = f.List(ctxFor(t, 10*time.Second), nil)
	if list[0].Presence != fleet.Offline || list[0].State.Reason != mgmt.ReasonShutdown {
		t.Fatalf("list after stop %+v state %+v", list[0], list[0].State)
	}
}

func TestIntegrationWillOnKillAndStaleWill(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	platform := platformServer(t).URL
	tp := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: "GATE-7"}
	w := watch(t, b.URL, tp.State())
	root := t.TempDir()

	c1 := startChild(t, b.URL, "GATE-7", root, platform)
	m, _ := w.wait(0, "birth of the child", stateIs(tp, mgmt.StatusOnline, 0))
	b1 := decodeState(t, m)
	n := len(w.all())
	c1.kill()
	m, _ = w.wait(n, "the will", stateIs(tp, mgmt.StatusOffline, 0))
	will := decodeState(t, m)
	if will.Epoch != b1.Epoch || will.Boot != b1.Boot || will.Reason != mgmt.ReasonConnectionLost {
		t.Fatalf("will %+v does not match birth %+v", will, b1)
	}
	f := dialFleet(t, b.URL)
	list, _ := f.List(ctxFor(t, 10*time.Second), nil)
	if list[0].Presence != fleet.Offline || list[0].StaleDeath {
		t.Fatalf("after a kill the terminal is offline: %+v", list[0])
	}

	// The agent comes back with the next epoch.
	c2 := startChild(t, b.URL, "GATE-7", root, platform)
	n = len(w.all())
	m, _ = w.wait(n, "rebirth", stateIs(tp, mgmt.StatusOnline, b1.Epoch+1))
	b2 := decodeState(t, m)

	// A death of the earlier session arrives late (a broker that noticed the old
	// connection's loss only now): it overwrites the retained state, the agent sees an
	// older epoch and announces itself again.
	stale, _ := json.Marshal(mgmt.State{V: 1, Status: mgmt.StatusOffline, Epoch: b1.Epoch, Boot: b1.Boot, Reason: mgmt.ReasonConnectionLost})
	n = len(w.all())
	w.publish(mqttc.Message{Topic: tp.State(), Payload: stale, QoS: 1, Retained: true})
	// (The agent may already have re-announced itself once: the broker queued the first
	// will in the persistent session and delivered it on reconnect.)
	_, n = w.wait(n, "the stale will", stateIs(tp, mgmt.StatusOffline, b1.Epoch))
	w.wait(n+1, "the agent's answer to a stale will", func(m mqttc.Message) bool {
		s, err := mgmt.DecodeState(m.Payload)
		return err == nil && s.Status == mgmt.StatusOnline && s.Epoch == b2.Epoch && s.Boot == b2.Boot
	})
	list, _ = f.List(ctxFor(t, 10*time.Second), nil)
	if list[0].Presence != fleet.Online || list[0].Epoch != b2.Epoch {
		t.Fatalf("retained state after the stale will: %+v %+v", list[0], list[0].State)
	}
	c2.kill()
	m, _ = w.wait(n, "second will", stateIs(tp, mgmt.StatusOffline, b2.Epoch))
}

func TestIntegrationRemoteConfig(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	tm := startTerm(t, b.URL, "POS-12", termOpts{})
	other := startTerm(t, b.URL, "POS-13", termOpts{})
	tp := tm.sess.Topics()
	w := watch(t, b.URL, tp.Reported(), tp.Events())
	f := dialFleet(t, b.URL)
	waitOnline(t, f, "POS-12", "POS-13")

	// A valid push to a group is committed on each terminal.
	ids, err := f.Resolve(ctxFor(t, 10*time.Second), []string{"POS-1*"})
	if err != nil || strings.Join(ids, ",") != "POS-12,POS-13" {
		t.Fatalf("resolve %v %v", ids, err)
	}
	var progress []string
	res, err := f.PushConfig(ctxFor(t, 20*time.Second), ids, []byte("log:\n  level: debug\n"), fleet.PushOptions{
		Progress: func(id string, r mgmt.Reported) { progress = append(progress, id+":"+string(r.Status)) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != "committed" || r.Version != 1 || !r.OK() {
			t.Fatalf("push %+v", r)
		}
	}
	if c, _ := tm.app.Running(); c.Log.Level != "debug" {
		t.Fatalf("level %q", c.Log.Level)
	}
	if c, _ := other.app.Running(); c.Log.Level != "debug" {
		t.Fatalf("other terminal level %q", c.Log.Level)
	}
	if p := strings.Join(progress, ","); !strings.Contains(p, "POS-12:applying") || !strings.Contains(p, "POS-12:gating") {
		t.Fatalf("progress %s", p)
	}
	m, _ := w.wait(0, "retained reported", func(m mqttc.Message) bool {
		var r mgmt.Reported
		return m.Topic == tp.Reported() && json.Unmarshal(m.Payload, &r) == nil && r.Status == rollout.StatusCommitted
	})
	var rep mgmt.Reported
	json.Unmarshal(m.Payload, &rep)
	if rep.Committed.Version != 1 || rep.Epoch != 1 || rep.SHA256 != rollout.Hash([]byte("log:\n  level: debug\n")) {
		t.Fatalf("reported %s", m.Payload)
	}
	w.wait(0, "config.committed event", func(m mqttc.Message) bool {
		return m.Topic == tp.Events() && strings.Contains(string(m.Payload), `"kind":"config.committed"`) && strings.Contains(string(m.Payload), `"code":"700004"`)
	})

	// An invalid push is rejected with every problem; nothing changes.
	res, err = f.PushConfig(ctxFor(t, 20*time.Second), []string{"POS-12"}, []byte("log:\n  level: loud\nplatform:\n  channelNo: \"12\"\n  tiemout: 5s\n"), fleet.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Status != "rejected" || r.Version != 2 || len(r.Problems) != 3 {
		t.Fatalf("invalid push %+v", r)
	}
	var paths []string
	for _, p := range res[0].Problems {
		paths = append(paths, p.Path)
	}
	if strings.Join(paths, ",") != "platform.tiemout,log.level,platform.channelNo" {
		t.Fatalf("problem paths %v", paths)
	}
	// A secret pasted into the document never leaves the manager.
	res, err = f.PushConfig(ctxFor(t, 5*time.Second), []string{"POS-12"}, []byte("platform:\n  sm4Key: 00112233445566778899AABBCCDDEEFF\n"), fleet.PushOptions{})
	if err == nil || len(res) != 1 || res[0].Problems[0].Path != "platform.sm4Key" {
		t.Fatalf("inline secret: %+v %v", res, err)
	}

	// A push that cuts the platform off fails the health gate and is rolled back.
	dead := "http://127.0.0.1:" + strconv.Itoa(labtest.FreePort(t))
	res, _ = f.PushConfig(ctxFor(t, 20*time.Second), []string{"POS-12"}, []byte("platform:\n  baseURL: "+dead+"\n"), fleet.PushOptions{})
	if r := res[0]; r.Status != "rolled-back" || !strings.Contains(r.Reason, "platform unreachable") || !strings.Contains(r.Reason, "rolled back to version 1") {
		t.Fatalf("breaking push %+v", r)
	}
	if c, _ := tm.app.Running(); c.Platform.BaseURL == dead || c.Log.Level != "debug" {
		t.Fatalf("not rolled back: %s %s", c.Platform.BaseURL, c.Log.Level)
	}
	// A no-op push restarts nothing.
	applies := tm.app.Applies()
	res, _ = f.PushConfig(ctxFor(t, 20*time.Second), []string{"POS-12"}, []byte("log:\n  level: debug\n"), fleet.PushOptions{})
	if res[0].Status != "unchanged" || tm.app.Applies() != applies {
		t.Fatalf("no-op push %+v, applies %d -> %d", res[0], applies, tm.app.Applies())
	}
	// An explicit old version is stale.
	res, _ = f.PushConfig(ctxFor(t, 20*time.Second), []string{"POS-12"}, []byte("log:\n  level: warn\n"), fleet.PushOptions{Version: 2})
	if res[0].Status != "stale" {
		t.Fatalf("stale push %+v", res[0])
	}
	// An offline terminal is not waited for; its retained document waits for it.
	other.stop()
	res, _ = f.PushConfig(ctxFor(t, 20*time.Second), []string{"POS-13"}, []byte("log:\n  level: warn\n"), fleet.PushOptions{})
	if res[0].Status != fleet.StatusOffline {
		t.Fatalf("offline push %+v", res[0])
	}
	back := startTerm(t, b.URL, "POS-13", termOpts{root: other.root})
	waitFor(t, "retained desired applied on connect", func() bool { c, _ := back.app.Running(); return c.Log.Level == "warn" })
	sh, desired, err := f.Show(ctxFor(t, 10*time.Second), "POS-13")
	if err != nil || desired == nil || desired.Version != 2 || sh.Reported == nil {
		t.Fatalf("show %+v %+v %v", sh, desired, err)
	}
	waitFor(t, "POS-13 reports version 2 committed", func() bool {
		sh, _, err := f.Show(ctxFor(t, 10*time.Second), "POS-13")
		return err == nil && sh.Reported != nil && sh.Reported.Committed.Version == 2
	})
}

func TestIntegrationRestartDuringApply(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	platform := platformServer(t).URL
	root := t.TempDir()
	tp := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: "KIOSK-9"}
	w := watch(t, b.URL, tp.State(), tp.Reported())
	c1 := startChild(t, b.URL, "KIOSK-9", root, platform, "MGMT_HELPER_HEALTH=fail")
	w.wait(0, "birth", stateIs(tp, mgmt.StatusOnline, 0))
	f := dialFleet(t, b.URL)
	done := make(chan []fleet.PushResult, 1)
	go func() {
		res, _ := f.PushConfig(ctxFor(t, 30*time.Second), []string{"KIOSK-9"}, []byte("log:\n  level: debug\n"), fleet.PushOptions{})
		done <- res
	}()
	w.wait(0, "gating", func(m mqttc.Message) bool { return strings.Contains(string(m.Payload), `"status":"gating"`) })
	c1.kill() // the agent dies with the health gate open

	// It comes back, boots on the pending document and gates it again; now healthy.
	n := len(w.all())
	startChild(t, b.URL, "KIOSK-9", root, platform)
	w.wait(n, "commit after restart", func(m mqttc.Message) bool {
		var r mgmt.Reported
		return m.Topic == tp.Reported() && json.Unmarshal(m.Payload, &r) == nil && r.Status == rollout.StatusCommitted && r.Committed.Version == 1
	})
	if res := <-done; res[0].Status != "committed" {
		t.Fatalf("push seen by the manager: %+v", res[0])
	}
}

func TestIntegrationCommands(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	tm := startTerm(t, b.URL, "KIOSK-2", termOpts{})
	tp := tm.sess.Topics()
	f := dialFleet(t, b.URL)
	waitOnline(t, f, "KIOSK-2")
	run := func(name, args string, timeout time.Duration) fleet.CommandResult {
		t.Helper()
		var a json.RawMessage
		if args != "" {
			a = json.RawMessage(args)
		}
		res, err := f.Command(ctxFor(t, 30*time.Second), []string{"KIOSK-2"}, name, a, timeout)
		if err != nil || len(res) != 1 {
			t.Fatalf("%s: %v %v", name, res, err)
		}
		return res[0]
	}
	r := run("ping", "", 0)
	if r.Status != mgmt.ResultOK || !strings.Contains(string(r.Result.Result), `"pong":true`) || r.Result.Epoch != 1 {
		t.Fatalf("ping %+v", r.Result)
	}
	r = run("log.level", `{"level":"debug"}`, 0)
	if r.Status != mgmt.ResultOK || tm.level.Level().String() != "DEBUG" || !strings.Contains(string(r.Result.Result), `"previous":"info"`) {
		t.Fatalf("log.level %+v", r.Result)
	}
	if r = run("log.level", `{"level":"shout"}`, 0); r.Status != mgmt.ResultError || r.Result.Code != "700010" {
		t.Fatalf("bad level %+v", r.Result)
	}
	if r = run("queue.stats", "", 0); r.Status != mgmt.ResultOK || string(r.Result.Result) != `{"depth":3}` {
		t.Fatalf("queue.stats %+v", r.Result)
	}
	if r = run("queue.flush", "", 0); r.Status != mgmt.ResultUnknown || !strings.Contains(r.Result.Error, "known: config.status, diagnostics, log.level, ping, queue.stats, restart, test.sleep") {
		t.Fatalf("unregistered command %+v", r.Result)
	}
	if r = run("test.sleep", "", 300*time.Millisecond); r.Status != mgmt.ResultTimeout || r.Result.Code != "700011" {
		t.Fatalf("timeout %+v", r.Result)
	}
	if r = run("config.status", "", 0); r.Status != mgmt.ResultOK || !strings.Contains(string(r.Result.Result), `"committed"`) {
		t.Fatalf("config.status %+v", r.Result)
	}
	if r = run("diagnostics", "", 0); r.Status != mgmt.ResultOK {
		t.Fatalf("diagnostics %+v", r.Result)
	}
	var diag map[string]json.RawMessage
	json.Unmarshal(r.Result.Result, &diag)
	for _, k := range []string{"terminal", "software", "link", "telemetry", "config", "recentEvents", "runtime", "commands"} {
		if diag[k] == nil {
			t.Errorf("diagnostics lacks %s", k)
		}
	}
	r = run("restart", `{"reason":"upgrade"}`, 0)
	if r.Status != mgmt.ResultOK {
		t.Fatalf("restart %+v", r.Result)
	}
	select {
	case why := <-tm.restart:
		if why != "terminal management: upgrade" {
			t.Fatalf("restart reason %q", why)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("restart hook not called after the result")
	}

	// On the wire: invalid requests, duplicates and retained commands.
	w := watch(t, b.URL, mgmt.Fleet(mgmt.DefaultPrefix, mgmt.KindResult))
	before := tm.sess.Link().Commands.Taken
	w.publish(mqttc.Message{Topic: tp.Command("bad-1"), Payload: []byte(`{"name":`), QoS: 1})
	m, _ := w.wait(0, "invalid result", func(m mqttc.Message) bool { return m.Topic == tp.Result("bad-1") })
	var res mgmt.Result
	if json.Unmarshal(m.Payload, &res); res.Status != mgmt.ResultInvalid || res.ID != "bad-1" {
		t.Fatalf("invalid: %s", m.Payload)
	}
	ping := []byte(`{"v":1,"name":"ping"}`)
	w.publish(mqttc.Message{Topic: tp.Command("dup-1"), Payload: ping, QoS: 1})
	w.publish(mqttc.Message{Topic: tp.Command("dup-1"), Payload: ping, QoS: 1})
	// A retained command published to a connected terminal reaches it as a live message
	// (MQTT 3.1.1 clears the retain flag on live delivery) and runs once; the broker
	// keeps it and hands it again, flagged retained, to every later subscription.
	w.publish(mqttc.Message{Topic: tp.Command("kept-1"), Payload: ping, QoS: 1, Retained: true})
	w.publish(mqttc.Message{Topic: tp.Command("expired-1"), Payload: []byte(`{"v":1,"name":"ping","expiresAt":"2001-01-01T00:00:00Z"}`), QoS: 1})
	w.publish(mqttc.Message{Topic: tp.Command("last-1"), Payload: ping, QoS: 1})
	for _, id := range []string{"dup-1", "kept-1", "expired-1", "last-1"} {
		w.wait(0, "result of "+id, func(m mqttc.Message) bool { return m.Topic == tp.Result(id) })
	}
	// Duplicates are recognised before anything runs: once counted, no answer can follow.
	waitFor(t, "the duplicate counted", func() bool { return tm.sess.Link().Commands.Duplicates == 1 })
	count := map[string]int{}
	for _, m := range w.all() {
		if p, ok := mgmt.ParseTopic(mgmt.DefaultPrefix, m.Topic); ok {
			count[p.ID]++
			if p.ID == "expired-1" && !strings.Contains(string(m.Payload), `"status":"expired"`) {
				t.Errorf("expired: %s", m.Payload)
			}
		}
	}
	if count["dup-1"] != 1 || count["kept-1"] != 1 || count["expired-1"] != 1 {
		t.Fatalf("results per id %v", count)
	}
	if l := tm.sess.Link().Commands; l.Taken != before+5 || l.Retained != 0 {
		t.Fatalf("command counters %+v", l)
	}
	// After a restart the retained command comes again, flagged retained: ignored.
	tm.stop()
	n := len(w.all())
	tm2 := startTerm(t, b.URL, "KIOSK-2", termOpts{root: tm.root})
	waitOnline(t, f, "KIOSK-2")
	waitFor(t, "the retained command ignored", func() bool { return tm2.sess.Link().Commands.Retained == 1 })
	w.publish(mqttc.Message{Topic: tp.Command("after-1"), Payload: ping, QoS: 1})
	w.wait(n, "after restart", func(m mqttc.Message) bool { return m.Topic == tp.Result("after-1") })
	// A terminal that never connected finds a retained command: ignored too.
	tp3 := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: "KIOSK-3"}
	w.publish(mqttc.Message{Topic: tp3.Command("kept-3"), Payload: ping, QoS: 1, Retained: true})
	tm3 := startTerm(t, b.URL, "KIOSK-3", termOpts{})
	waitFor(t, "KIOSK-3 ignores the retained command", func() bool { return tm3.sess.Link().Commands.Retained == 1 })
	for _, m := range w.all()[n:] {
		if m.Topic == tp.Result("kept-1") || m.Topic == tp.Result("dup-1") || m.Topic == tp3.Result("kept-3") {
			t.Fatalf("retained or duplicate command answered: %s", m.Topic)
		}
	}
	if l := tm3.sess.Link().Commands; l.Taken != 0 {
		t.Fatalf("KIOSK-3 took a command: %+v", l)
	}
}

func TestIntegrationBrokerRestart(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	g := newGate(t, b.URL)
	tm := startTerm(t, g.URL, "KIOSK-5", termOpts{})
	tp := tm.sess.Topics()
	f := dialFleet(t, b.URL)
	waitOnline(t, f, "KIOSK-5")

	g.open.Store(false) // the terminal stays away until the watcher below is ready
	b.Stop()
	waitFor(t, "the session notices", func() bool { return !tm.sess.Online() })
	// Events during the outage are kept and sent, in order, after the reconnect.
	const backlog = 200 // fits the bus subscription's buffer; see TestIntegrationOfflineBufferBound
	for i := range backlog {
		tm.bus.Publish(event.Event{Kind: "reader.removed", Source: "Virtual PCD 00 00", Data: map[string]any{"n": i}})
	}
	b.Start()
	w := watch(t, b.URL, tp.State(), tp.Events())
	g.open.Store(true)
	waitFor(t, "reconnected", tm.sess.Online)
	m, _ := w.wait(0, "new birth", stateIs(tp, mgmt.StatusOnline, 0))
	if s := decodeState(t, m); s.Epoch < 2 {
		t.Fatalf("epoch after reconnect %d", s.Epoch)
	}
	w.wait(0, "the last buffered event", func(m mqttc.Message) bool {
		return m.Topic == tp.Events() && strings.Contains(string(m.Payload), fmt.Sprintf(`"n":%d}`, backlog-1))
	})
	next := 0
	for _, m := range w.all() {
		var e mgmt.EventMessage
		if m.Topic != tp.Events() || json.Unmarshal(m.Payload, &e) != nil || e.Kind != "reader.removed" {
			continue
		}
		if n, _ := e.Data["n"].(float64); int(n) != next {
			t.Fatalf("event %v arrived where %d was expected", e.Data["n"], next)
		}
		next++
	}
	if next != backlog {
		t.Fatalf("%d of %d buffered events arrived", next, backlog)
	}
	// The broker forgot the session (no persistence): the terminal subscribed again, so
	// commands and configuration reach it.
	f2 := dialFleet(t, b.URL)
	res, err := f2.Command(ctxFor(t, 20*time.Second), []string{"KIOSK-5"}, "ping", nil, 5*time.Second)
	if err != nil || res[0].Status != mgmt.ResultOK {
		t.Fatalf("ping after broker restart: %+v %v", res, err)
	}
	pr, err := f2.PushConfig(ctxFor(t, 20*time.Second), []string{"KIOSK-5"}, []byte("log:\n  level: warn\n"), fleet.PushOptions{})
	if err != nil || pr[0].Status != "committed" {
		t.Fatalf("push after broker restart: %+v %v", pr, err)
	}
	waitFor(t, "telemetry counting the reconnect and the lost session", func() bool {
		list, err := f2.List(ctxFor(t, 10*time.Second), nil)
		if err != nil || len(list) != 1 || list[0].Telemetry == nil {
			return false
		}
		l := list[0].Telemetry.Link
		return l.Connects >= 2 && l.SessionsLost >= 1
	})
}

func TestIntegrationMaskedEverywhere(t *testing.T) {
	const id = "350102199003077898" // 张三's 社会保障号码 (shared test identity)
	const masked = "**************7898"
	b := broker(t, labtest.MosquittoOptions{})
	w := watch(t, b.URL, mgmt.DefaultPrefix+"/#")
	tm := startTerm(t, b.URL, "KIOSK-3", termOpts{opts: func(o *mgmt.Options) {
		o.Commands = map[string]mgmt.Command{
			"echo": mgmt.CommandFunc(func(ctx2 context.Context, args json.RawMessage) (any, error) {
				return map[string]any{"holder": id, "note": "card of " + id}, nil
			}),
			"fail": mgmt.CommandFunc(func(ctx2 context.Context, args json.RawMessage) (any, error) {
				return nil, fmt.Errorf("platform refused card for %s", id)
			}),
		}
		o.Diagnostics = func(context.Context) map[string]any { return map[string]any{"lastHolder": id} }
	}})
	tm.source.set(mgmt.Devices{Readers: []mgmt.Reader{{Name: "r", Role: "holder", Present: true, LastError: "read " + id + " failed"}},
		Platform: &mgmt.Platform{Up: false, LastError: "platform: 证件 " + id + " 挂失"}})
	// A part forgot to mask: the event still leaves masked.
	tm.bus.Publish(event.Event{Kind: "card.authenticated", OK: true, Data: map[string]any{"idNumber": id, "list": []any{id}}})
	f := dialFleet(t, b.URL)
	waitOnline(t, f, "KIOSK-3")
	for _, c := range []string{"echo", "fail", "diagnostics"} {
		if _, err := f.Command(ctxFor(t, 20*time.Second), []string{"KIOSK-3"}, c, nil, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pr, err := f.PushConfig(ctxFor(t, 20*time.Second), []string{"KIOSK-3"}, []byte("terminal:\n  site: "+id+"\nlog:\n  level: \""+id+"\"\n"), fleet.PushOptions{})
	if err != nil || pr[0].Status != "rejected" {
		t.Fatalf("push %+v %v", pr, err)
	}
	tp := tm.sess.Topics()
	w.wait(0, "the rejection report", func(m mqttc.Message) bool {
		return m.Topic == tp.Reported() && strings.Contains(string(m.Payload), `"rejected"`)
	})
	w.wait(0, "telemetry with the reader error", func(m mqttc.Message) bool {
		return m.Topic == tp.Telemetry() && strings.Contains(string(m.Payload), "read "+masked+" failed")
	})
	seen := map[string]bool{}
	for _, m := range w.all() {
		p, _ := mgmt.ParseTopic(mgmt.DefaultPrefix, m.Topic)
		if p.Kind == mgmt.KindDesired || p.Kind == mgmt.KindCommand {
			continue // the manager's own messages
		}
		if strings.Contains(string(m.Payload), id) {
			t.Errorf("clear ID number on %s: %s", m.Topic, m.Payload)
		}
		if strings.Contains(string(m.Payload), masked) {
			seen[p.Kind] = true
		}
	}
	for _, k := range []string{mgmt.KindEvents, mgmt.KindResult, mgmt.KindReported, mgmt.KindTelemetry} {
		if !seen[k] {
			t.Errorf("no masked ID number seen on %s", k)
		}
	}
}

func TestIntegrationTLSPasswordACL(t *testing.T) {
	ca := labtest.NewCA(t)
	b := broker(t, labtest.MosquittoOptions{
		TLS:       ca,
		Passwords: map[string]string{"KIOSK-8": "s3cret", "manager": "m4nager"},
		ACL: "user manager\ntopic readwrite ssc/v1/terminals/#\n\n" +
			"pattern readwrite ssc/v1/terminals/%u/#\n",
	})
	dir := t.TempDir()
	pw := dir + "/mqtt.password"
	writeFile(t, pw, "s3cret\n")
	tm := startTerm(t, b.URL, "KIOSK-8", termOpts{cfg: func(c *mgmt.Config) {
		c.Username, c.PasswordFile = "KIOSK-8", configSecret(pw)
		c.TLS.CAFile = ca.CertFile
	}})
	mpw := dir + "/manager.password"
	writeFile(t, mpw, "m4nager")
	f, err := fleet.Dial(ctxFor(t, 10*time.Second), fleet.Options{Broker: b.URL, Username: "manager", PasswordFile: configSecret(mpw), CAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	waitOnline(t, f, "KIOSK-8")
	res, err := f.Command(ctxFor(t, 20*time.Second), []string{"KIOSK-8"}, "ping", nil, 5*time.Second)
	if err != nil || res[0].Status != mgmt.ResultOK {
		t.Fatalf("ping over TLS: %+v %v", res, err)
	}
	if !tm.sess.Online() {
		t.Fatal("not online")
	}
	// Wrong password: refused, counted, reported as an authentication problem.
	bad := dir + "/bad.password"
	writeFile(t, bad, "nope")
	tb := startTerm(t, b.URL, "KIOSK-8", termOpts{cfg: func(c *mgmt.Config) {
		c.Username, c.PasswordFile = "KIOSK-8", configSecret(bad)
		c.TLS.CAFile = ca.CertFile
	}})
	sub := tb.bus.Subscribe(16, true, 0)
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-sub.C():
			if e.Kind == "mgmt.offline" && e.Prompts != nil && e.Prompts.Code == "700003" {
				return
			}
		case <-deadline:
			t.Fatal("no authentication failure event")
		}
	}
}

func TestIntegrationOfflineBufferBound(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	g := newGate(t, b.URL)
	g.open.Store(false) // offline from the start
	tm := startTerm(t, g.URL, "KIOSK-6", termOpts{cfg: func(c *mgmt.Config) { c.Buffer.Events, c.Events = 50, []string{"scanner.*"} }})
	// Telemetry in the buffer means Run has subscribed to the bus.
	waitFor(t, "the session runs", func() bool { return tm.sess.Link().Buffered > 0 })
	for i := range 200 {
		tm.bus.Publish(event.Event{Kind: "scanner.code", Data: map[string]any{"n": i}})
	}
	waitFor(t, "150 events dropped and counted", func() bool { l := tm.sess.Link(); return l.Dropped.Events == 150 })
	tp := tm.sess.Topics()
	w := watch(t, b.URL, tp.Events(), tp.Telemetry())
	g.open.Store(true)
	w.wait(0, "the newest event", func(m mqttc.Message) bool { return strings.Contains(string(m.Payload), `"n":199}`) })
	next := 150
	for _, m := range w.all() {
		var e mgmt.EventMessage
		if m.Topic != tp.Events() || json.Unmarshal(m.Payload, &e) != nil || e.Kind != "scanner.code" {
			continue
		}
		if n, _ := e.Data["n"].(float64); int(n) != next {
			t.Fatalf("event %v arrived where %d was expected", e.Data["n"], next)
		}
		next++
	}
	// The manager sees the loss in telemetry.
	w.wait(0, "telemetry with the drop count", func(m mqttc.Message) bool {
		var tl mgmt.Telemetry
		return m.Topic == tp.Telemetry() && json.Unmarshal(m.Payload, &tl) == nil && tl.Link.Dropped.Events == 150
	})
}

// BenchmarkIntegrationEventDelivery measures events end to end: published on the bus,
// encoded and masked by the session, sent with QoS 1 (16 in flight) to mosquitto and
// received by a subscriber.
func BenchmarkIntegrationEventDelivery(b *testing.B) {
	mq := labtest.StartMosquitto(b, labtest.MosquittoOptions{Extra: benchBrokerExtra()})
	tm := startTerm(b, mq.URL, "BENCH-1", termOpts{cfg: func(c *mgmt.Config) {
		c.Buffer.Events = 100000
		c.TelemetryInterval = config.Duration(time.Hour)
	}})
	waitFor(b, "online", tm.sess.Online)
	got := make(chan struct{}, 1<<16)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := mqttc.Dial(ctx, mqttc.Options{Brokers: []string{mq.URL}, ClientID: "bench-sub", CleanSession: true,
		OnMessage: func(m mqttc.Message) { got <- struct{}{} }})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close(0)
	if err := sub.Subscribe(ctx, map[string]byte{tm.sess.Topics().Events(): 1}); err != nil {
		b.Fatal(err)
	}
	e := event.Event{Kind: "card.authenticated", Source: "Virtual PCD 00 00", OK: true, Data: map[string]any{"cardNo": "D10000017"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tm.bus.Publish(e)
		if i%200 == 199 { // stay inside the bus subscription's buffer
			for range 200 {
				<-got
			}
		}
	}
	for range b.N % 200 {
		<-got
	}
}

func benchBrokerExtra() []string {
	if os.Getenv("BENCH_NODELAY") != "" {
		return []string{"set_tcp_nodelay true"}
	}
	return nil
}

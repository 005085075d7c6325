package mgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// pinKey writes k's public key where a terminal pins it and returns the path.
func pinKey(t *testing.T, k *signing.PrivateKey) string {
	t.Helper()
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "manager.pub.pem")
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t *testing.T, alg signing.Algorithm) *signing.PrivateKey {
	t.Helper()
	k, err := signing.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signedFleet(t *testing.T, broker string, k *signing.PrivateKey) *fleet.Client {
	t.Helper()
	c, err := fleet.Dial(ctxFor(t, 10*time.Second), fleet.Options{Broker: broker, Signer: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestIntegrationBrokerAttacker: a client with full rights on the broker but no manager
// key tries everything it can on a terminal that pins the manager's key: an unsigned
// document, one signed by its own key, one claiming the manager's key id, a tampered
// genuine one, replays of a captured genuine document and command, a genuine document
// and command captured for another terminal, a reused command id, unsigned and
// self-signed commands. Nothing changes on the terminal (committed version, running
// configuration, applies, log level, no restart, no command run), every refusal is
// reported with its reason (config/reported, the command's result, mgmt.refused
// events), and the genuine manager still manages the terminal afterwards.
func TestIntegrationBrokerAttacker(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	mk := newKey(t, signing.SM2)
	pinned := pinKey(t, mk)
	pin := termOpts{cfg: func(c *mgmt.Config) { c.ManagerKeys = []string{pinned} }}
	tm := startTerm(t, b.URL, "KIOSK-7", pin)
	other := startTerm(t, b.URL, "KIOSK-8", pin)
	tp, tp8 := tm.sess.Topics(), other.sess.Topics()
	// The attacker sees everything on the broker and may publish anywhere.
	spy := watch(t, b.URL, "#")
	f := signedFleet(t, b.URL, mk)
	waitOnline(t, f, "KIOSK-7", "KIOSK-8")

	// The genuine manager works: documents and commands, signed per terminal.
	push := func(ids []string, doc string) []fleet.PushResult {
		t.Helper()
		res, err := f.PushConfig(ctxFor(t, 20*time.Second), ids, []byte(doc), fleet.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, r := range push([]string{"KIOSK-7", "KIOSK-8"}, "log:\n  level: debug\n") {
		if r.Status != "committed" || r.Version != 1 {
			t.Fatalf("genuine push %+v", r)
		}
	}
	cmd := func(name, args string) fleet.CommandResult {
		t.Helper()
		res, err := f.Command(ctxFor(t, 20*time.Second), []string{"KIOSK-7", "KIOSK-8"}, name, json.RawMessage(args), 5*time.Second)
		if err != nil || len(res) != 2 || res[0].Status != mgmt.ResultOK || res[1].Status != mgmt.ResultOK {
			t.Fatalf("genuine %s: %+v %v", name, res, err)
		}
		return res[0]
	}
	first := cmd("log.level", `{"level":"warn"}`)
	if r := push([]string{"KIOSK-7"}, "log:\n  level: warn\n"); r[0].Status != "committed" || r[0].Version != 2 {
		t.Fatalf("genuine push v2 %+v", r[0])
	}

	// What the attacker captured off the broker.
	captured := func(topic string) []byte {
		t.Helper()
		for _, m := range spy.all() {
			if m.Topic == topic {
				return m.Payload
			}
		}
		t.Fatalf("nothing captured on %s", topic)
		return nil
	}
	var v1, v2 []byte
	for _, m := range spy.all() {
		if m.Topic == tp.Desired() {
			if d, _ := mgmt.ReadDesired(m.Payload); d.Version == 1 {
				v1 = m.Payload
			} else if d.Version == 2 {
				v2 = m.Payload
			}
		}
	}
	desired8 := captured(tp8.Desired())
	cmd7 := captured(tp.Command(first.CommandID))
	cmd8 := captured(tp8.Command(first.CommandID))
	if v1 == nil || v2 == nil {
		t.Fatal("genuine documents not captured")
	}

	// The terminal as it stands.
	committed := tm.eng.Status().Committed
	running, _ := tm.app.Running()
	applies, level := tm.app.Applies(), tm.level.Level()
	taken := tm.sess.Link().Commands.Taken
	mark := len(spy.all())

	own := newKey(t, signing.SM2)
	desired := func(version uint64, doc string) mgmt.Desired {
		return mgmt.Desired{V: 1, Terminal: "KIOSK-7", Version: version, Config: doc, SHA256: rollout.Hash([]byte(doc)), IssuedAt: time.Now().UTC()}
	}
	signDesired := func(k *signing.PrivateKey, d mgmt.Desired) []byte {
		b, err := mgmt.SignDesired(k, d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The manager's key id on a signature of the attacker's own key.
	var claimed mgmt.Envelope
	json.Unmarshal(signDesired(own, desired(101, "log:\n  level: error\n")), &claimed)
	claimed.KeyID = mk.Public().ID()
	claimedB, _ := json.Marshal(claimed)
	// A genuine envelope with its payload altered.
	var tampered mgmt.Envelope
	json.Unmarshal(v2, &tampered)
	tampered.Payload = bytes.Replace(tampered.Payload, []byte(`level: warn`), []byte(`level: error`), 1)
	tampered.Payload = bytes.Replace(tampered.Payload, []byte(`"version":2`), []byte(`"version":102`), 1)
	tamperedB, _ := json.Marshal(tampered)

	attacks := []struct {
		name, reason string
		version      uint64
		payload      []byte
	}{
		{"unsigned document", mgmt.RefusedUnsigned, 99, []byte(`{"v":1,"version":99,"config":"log:\n  level: error\n"}`)},
		{"document signed by the attacker's key", mgmt.RefusedUnknownKey, 100, signDesired(own, desired(100, "log:\n  level: error\n"))},
		{"attacker's signature under the manager's key id", mgmt.RefusedBadSignature, 101, claimedB},
		{"tampered genuine document", mgmt.RefusedBadSignature, 102, tamperedB},
		{"genuine document of another terminal", mgmt.RefusedForeign, 1, desired8},
	}
	for _, a := range attacks {
		spy.publish(mqttc.Message{Topic: tp.Desired(), Payload: a.payload, QoS: 1, Retained: true})
		m, _ := spy.wait(mark, "report of "+a.name, func(m mqttc.Message) bool {
			var r mgmt.Reported
			return m.Topic == tp.Reported() && json.Unmarshal(m.Payload, &r) == nil && r.Version == a.version && r.Status == rollout.StatusRefused
		})
		var r mgmt.Reported
		json.Unmarshal(m.Payload, &r)
		if r.Refusal != a.reason || !strings.Contains(r.Reason, a.reason) || r.Committed != committed {
			t.Errorf("%s: reported %s", a.name, m.Payload)
		}
	}
	// A replay of the terminal's own older document is stale; of the current one, a
	// redelivery that changes nothing.
	spy.publish(mqttc.Message{Topic: tp.Desired(), Payload: v1, QoS: 1, Retained: true})
	spy.wait(mark, "the replayed v1 reported stale", func(m mqttc.Message) bool {
		var r mgmt.Reported
		return m.Topic == tp.Reported() && json.Unmarshal(m.Payload, &r) == nil && r.Version == 1 && r.Status == rollout.StatusStale &&
			strings.Contains(r.Reason, "not newer")
	})
	spy.publish(mqttc.Message{Topic: tp.Desired(), Payload: v2, QoS: 1, Retained: true})

	// Commands: replays of the captured one (its id is taken), the reused id with the
	// attacker's own payload, the other terminal's genuine command, the captured one on
	// another id, unsigned and self-signed commands.
	ownReq := func(id, name string) []byte {
		now := time.Now().UTC()
		b, err := mgmt.SignRequest(own, mgmt.Request{Terminal: "KIOSK-7", ID: id, Name: name, IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	spy.publish(mqttc.Message{Topic: tp.Command(first.CommandID), Payload: cmd7, QoS: 1})
	spy.publish(mqttc.Message{Topic: tp.Command(first.CommandID), Payload: ownReq(first.CommandID, "restart"), QoS: 1})
	refusedCmds := map[string]string{
		"x-foreign":  mgmt.RefusedForeign,
		"x-moved":    mgmt.RefusedMismatch,
		"x-unsigned": mgmt.RefusedUnsigned,
		"x-own":      mgmt.RefusedUnknownKey,
	}
	// The other terminal's genuine command (on an id KIOSK-7 never took).
	spy.publish(mqttc.Message{Topic: tp.Command("x-foreign"), Payload: cmd8, QoS: 1})
	spy.publish(mqttc.Message{Topic: tp.Command("x-moved"), Payload: cmd7, QoS: 1})
	spy.publish(mqttc.Message{Topic: tp.Command("x-unsigned"), Payload: []byte(`{"v":1,"name":"restart"}`), QoS: 1})
	spy.publish(mqttc.Message{Topic: tp.Command("x-own"), Payload: ownReq("x-own", "restart"), QoS: 1})
	for id, reason := range refusedCmds {
		m, _ := spy.wait(mark, "result of "+id, func(m mqttc.Message) bool { return m.Topic == tp.Result(id) })
		var r mgmt.Result
		json.Unmarshal(m.Payload, &r)
		if r.Status != mgmt.ResultRefused || r.Refusal != reason || r.Code != "700014" || !strings.Contains(r.Error, reason) {
			t.Errorf("%s: result %s", id, m.Payload)
		}
	}
	waitFor(t, "both reuses of the taken id counted", func() bool { return tm.sess.Link().Commands.Duplicates == 2 })

	// Every refusal raised an event with its reason.
	want := map[string]int{mgmt.RefusedUnsigned: 2, mgmt.RefusedUnknownKey: 2, mgmt.RefusedBadSignature: 2,
		mgmt.RefusedForeign: 2, mgmt.RefusedMismatch: 1, mgmt.RefusedReplayed: 2}
	waitFor(t, "mgmt.refused events", func() bool {
		got := map[string]int{}
		for _, m := range spy.all()[mark:] {
			var ev mgmt.EventMessage
			if m.Topic == tp.Events() && json.Unmarshal(m.Payload, &ev) == nil && ev.Kind == "mgmt.refused" {
				if r, _ := ev.Data["reason"].(string); r != "" {
					got[r]++
				}
				if ev.Prompts == nil || ev.Prompts.Code != "700014" || ev.OK {
					t.Errorf("event %s", m.Payload)
				}
			}
		}
		for r, n := range want {
			if got[r] != n {
				return false
			}
		}
		return true
	})

	// Nothing changed.
	waitFor(t, "the terminal idle", func() bool { return tm.eng.Status().Pending == nil })
	now, _ := tm.app.Running()
	if c := tm.eng.Status().Committed; c != committed || tm.app.Applies() != applies || now.Log.Level != running.Log.Level ||
		tm.level.Level() != level || tm.sess.Link().Commands.Taken != taken {
		t.Fatalf("the attacker changed the terminal: committed %+v→%+v applies %d→%d level %s→%s/%s→%s taken %d→%d",
			committed, c, applies, tm.app.Applies(), running.Log.Level, now.Log.Level, level, tm.level.Level(), taken, tm.sess.Link().Commands.Taken)
	}
	select {
	case why := <-tm.restart:
		t.Fatalf("restarted: %s", why)
	default:
	}
	for _, m := range spy.all()[mark:] {
		if m.Topic == tp.Result(first.CommandID) {
			t.Fatalf("the taken command id answered again: %s", m.Payload)
		}
	}
	if l := tm.sess.Link().Commands; l.Refused != uint64(len(refusedCmds)) {
		t.Fatalf("refused counter %+v", l)
	}

	// The genuine manager still manages the terminal; a signed document that tries to
	// change the pinned keys is rejected.
	if r := push([]string{"KIOSK-7"}, "log:\n  level: error\n"); r[0].Status != "committed" || r[0].Version != 3 {
		t.Fatalf("genuine push after the attack %+v", r[0])
	}
	if c, _ := tm.app.Running(); c.Log.Level != "error" {
		t.Fatalf("level %s", c.Log.Level)
	}
	rekey := "mgmt:\n  managerKeys: [" + pinKey(t, own) + "]\n"
	if r, err := f.PushConfig(ctxFor(t, 20*time.Second), []string{"KIOSK-7"}, []byte(rekey), fleet.PushOptions{}); err == nil ||
		r[0].Problems[0].Path != "mgmt.managerKeys" {
		t.Fatalf("the fleet client sent new manager keys: %+v %v", r, err)
	}
	n := len(spy.all())
	spy.publish(mqttc.Message{Topic: tp.Desired(), Payload: signDesired(mk, desired(4, rekey)), QoS: 1, Retained: true})
	m, _ := spy.wait(n, "new manager keys rejected", func(m mqttc.Message) bool {
		var r mgmt.Reported
		return m.Topic == tp.Reported() && json.Unmarshal(m.Payload, &r) == nil && r.Version == 4 && r.Status.Final()
	})
	var rep mgmt.Reported
	if json.Unmarshal(m.Payload, &rep); rep.Status != rollout.StatusRejected || len(rep.Problems) != 1 || rep.Problems[0].Path != "mgmt.managerKeys" {
		t.Fatalf("signed document with new manager keys: %s", m.Payload)
	}
	if res, err := f.Command(ctxFor(t, 20*time.Second), []string{"KIOSK-7"}, "log.level", json.RawMessage(`{"level":"error"}`), 5*time.Second); err != nil ||
		res[0].Status != mgmt.ResultOK || tm.level.Level() != slog.LevelError {
		t.Fatalf("genuine command after the attack %+v %v", res, err)
	}
}

// TestIntegrationUnpinnedProduction: a terminal that is not a test terminal and pins no
// manager key reports as usual but refuses every document and command, saying why.
func TestIntegrationUnpinnedProduction(t *testing.T) {
	b := broker(t, labtest.MosquittoOptions{})
	tm := startTerm(t, b.URL, "GATE-1", termOpts{opts: func(o *mgmt.Options) { o.Identity.Test = false }})
	f := signedFleet(t, b.URL, newKey(t, signing.Ed25519))
	waitOnline(t, f, "GATE-1")
	res, err := f.PushConfig(ctxFor(t, 20*time.Second), []string{"GATE-1"}, []byte("log:\n  level: debug\n"), fleet.PushOptions{})
	if err != nil || res[0].Status != "refused" || !strings.Contains(res[0].Reason, mgmt.RefusedNoKeys) {
		t.Fatalf("push %+v %v", res, err)
	}
	cr, err := f.Command(ctxFor(t, 20*time.Second), []string{"GATE-1"}, "ping", nil, 5*time.Second)
	if err != nil || cr[0].Status != mgmt.ResultRefused || cr[0].Result.Refusal != mgmt.RefusedNoKeys {
		t.Fatalf("command %+v %v", cr, err)
	}
	if c := tm.eng.Status().Committed; c.Version != 0 || tm.app.Applies() != 0 {
		t.Fatalf("changed: %+v applies %d", c, tm.app.Applies())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sh, _, err := f.Show(ctx, "GATE-1"); err != nil || sh.Telemetry == nil {
		t.Fatalf("telemetry: %+v %v", sh, err)
	}
}

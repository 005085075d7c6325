package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

// TestManagement runs the agent's management session on a real mosquitto and drives it
// with the fleet client, as a terminal manager does: telemetry from the parts' counters,
// the agent's commands, a remote configuration applied in process (the parts it
// affects rebuilt, the health gate passed, committed), one that breaks the platform
// (the gate fails, rolled back, the platform works again), and one that needs a restart
// the test agent cannot do (rolled back with the reason).
func TestManagement(t *testing.T) {
	m := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	hook := newGateHook(t)
	r := newRig(t, rigOptions{Scenes: gateScene(hook.srv.URL), Extra: `mgmt:
  brokers: [` + m.URL + `]
  telemetryInterval: 1s
  healthGate:
    window: 5s
    interval: 100ms
`})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fc, err := fleet.Dial(ctx, fleet.Options{Broker: m.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	const id = "SSC-E2E-0001"
	r.expect("mgmt.online", nil)

	// Telemetry carries the parts, the readers and the platform link.
	var term *fleet.Terminal
	for deadline := time.Now().Add(10 * time.Second); ; {
		if term, _, err = fc.Show(ctx, id); err == nil && term.Telemetry != nil && term.Telemetry.Queue != nil &&
			len(term.Telemetry.Readers) > 0 && term.Telemetry.Platform != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no full telemetry: %+v %v", term, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tel := term.Telemetry
	if len(tel.PSAMs) != 1 || tel.PSAMs[0].Status != "ok" || len(tel.Parts) < 4 {
		t.Errorf("telemetry devices: psams %+v parts %+v", tel.PSAMs, tel.Parts)
	}

	cmd := func(name string) map[string]any {
		t.Helper()
		res, err := fc.Command(ctx, []string{id}, name, nil, 20*time.Second)
		if err != nil || len(res) != 1 || res[0].Status != "ok" || res[0].Result == nil {
			t.Fatalf("%s: %+v %v", name, res, err)
		}
		var out map[string]any
		if err := json.Unmarshal(res[0].Result.Result, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := cmd("queue.stats"); out["queue"] == nil || out["backflow"] == nil {
		t.Errorf("queue.stats %v", out)
	}
	if out := cmd("queue.flush"); out["flushing"] != true {
		t.Errorf("queue.flush %v", out)
	}
	if out := cmd("readers.rescan"); out["holderReaders"] != float64(1) {
		t.Errorf("readers.rescan %v", out)
	}
	if out := cmd("reload"); out["reloaded"] != true {
		t.Errorf("reload %v", out)
	}

	// A new scene label and gate timeout: the inputs are rebuilt, the gate passes.
	doc := strings.ReplaceAll(gateScene(hook.srv.URL), "02/闸机", "02/新闸机")
	res, err := fc.PushConfig(ctx, []string{id}, []byte("scenes:\n"+doc), fleet.PushOptions{Timeout: 30 * time.Second})
	if err != nil || len(res) != 1 || res[0].Status != "committed" {
		t.Fatalf("push: %+v %v", res, err)
	}
	if e := r.expect("config.applied", nil); !strings.Contains(fmt.Sprint(e.Data["rebuilt"]), "inputs") {
		t.Errorf("config.applied %v", e.Data)
	}
	seq := r.lastSeq()
	insert(t, r, "zhangsan")
	rec := r.expect("record.queued", after(seq, nil))
	waitLedger(t, r.sb, "a record with the new label", func(got string, m map[string]string) bool {
		return got == rec.Data["recordId"] && m["scene"] == "人力资源和社会保障应用/新闸机"
	})

	// A platform address that answers nothing: the health gate fails and the previous
	// configuration comes back.
	res, err = fc.PushConfig(ctx, []string{id}, []byte("platform:\n  baseURL: https://127.0.0.1:1\n"),
		fleet.PushOptions{Timeout: 30 * time.Second})
	if err != nil || len(res) != 1 || res[0].Status != "rolled-back" || !strings.Contains(res[0].Reason, "platform") {
		t.Fatalf("push of a broken platform: %+v %v", res, err)
	}
	seq = r.lastSeq()
	insert(t, r, "lisi")
	r.expect("auth.succeeded", after(seq, nil))

	// Settings only a restart applies, without a way to restart: rolled back, reason said.
	res, err = fc.PushConfig(ctx, []string{id}, []byte("payment:\n  queryFor: 30s\n"), fleet.PushOptions{Timeout: 30 * time.Second})
	if err != nil || len(res) != 1 || res[0].Status != "rolled-back" || !strings.Contains(res[0].Reason, "restart") {
		t.Fatalf("push needing a restart: %+v %v", res, err)
	}
}

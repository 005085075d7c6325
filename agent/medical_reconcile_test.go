package agent_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// TestMedicalRecordReconciled: a settlement whose outcome was journaled but whose C.4
// record was not queued (a restart between the two) is recorded at the next start,
// once; when the record had been queued and delivered already (a restart after the
// queue took it, before the journal noted so) the next start finds it by its
// idempotency key and sends nothing again.
func TestMedicalRecordReconciled(t *testing.T) {
	dir := t.TempDir()
	sb := startSandbox(t, dir, platformsim.Options{})
	const id = "MRECON0001"
	scenes := "  - name: clinic\n    kind: medical\n    label: 就医购药应用\n    readers: [\"Virtual Card Reader 00 00\"]\n"
	if err := agent.OweSettlementRecord(filepath.Join(dir, "state"), id, "clinic"); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		t.Run([]string{"owed", "owed again after delivery"}[round], func(t *testing.T) {
			if round == 1 {
				if err := agent.OweSettlementRecord(filepath.Join(dir, "state"), id, "clinic"); err != nil {
					t.Fatal(err)
				}
			}
			r := newRig(t, rigOptions{Dir: dir, SB: sb, Scenes: scenes})
			// Reconciling is done before the agent is ready: whatever it queued is
			// uploaded once the queue is empty again.
			waitQueueEmpty(t, r)
			deadline := time.Now().Add(15 * time.Second)
			for {
				n, received := 0, 0
				for _, r := range sb.Ledger().Records {
					var f struct{ BusinessSerialNo, SettlementType, Amount string }
					if json.Unmarshal(r.Record, &f) == nil && f.BusinessSerialNo == id {
						n, received = n+1, r.Received
						if f.SettlementType != "门诊支付" || f.Amount != "148.50" {
							t.Fatalf("record %+v", f)
						}
					}
				}
				if n == 1 && received == 1 {
					break
				}
				if n > 1 || received > 1 || time.Now().After(deadline) {
					t.Fatalf("records of %s in the sandbox: %d, submissions %d; want 1 and 1", id, n, received)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// waitQueueEmpty waits (at most 15 s) until the agent's record queue holds nothing.
func waitQueueEmpty(t *testing.T, r *rig) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, v := r.call("GET", "/v1/queue", nil)
		q, _ := v["queue"].(map[string]any)
		lanes, _ := q["lanes"].(map[string]any)
		depth := 0.0
		for _, l := range lanes {
			m, _ := l.(map[string]any)
			d, _ := m["depth"].(float64)
			depth += d
		}
		if q != nil && depth == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty within 15s: %v", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

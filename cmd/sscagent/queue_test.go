package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/queue"
)

// queueFixture writes a configuration and a queue in its state directory with three
// records, one of them quarantined.
func queueFixture(t *testing.T) (cfgPath string, cfg agent.Config) {
	t.Helper()
	cfgPath = writeConfig(t)
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := queue.LoadKey(cfg.Queue.KeyPath(cfg.Agent.StateDir), true)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Queue.Options()
	o.Key, o.Terminal = key, cfg.Terminal.ID
	q, err := queue.Open(filepath.Join(cfg.Agent.StateDir, queue.FileName), o)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	body := `{"socialSecurityNo":"350102199003077898","name":"张三","applicationScene":"就业创业"}`
	for _, e := range []queue.Entry{
		{Lane: queue.LaneIdentity, Kind: "credential", Body: []byte(body)},
		{Lane: queue.LaneMoney, Kind: "payment", Body: []byte(`{"amount":"12.50"}`)},
		{Lane: queue.LaneIdentity, Kind: "credential", Body: []byte(body)},
	} {
		if _, err := q.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := q.Oldest(ctx, 10, nil)
	if err := q.Quarantine(ctx, recs[2].Seq, "rejected: holder 350102199003077898 unknown"); err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

func TestQueueCLI(t *testing.T) {
	cfgPath, cfg := queueFixture(t)
	const clearID = "350102199003077898"

	out, errOut, code := runCLI(t, "queue", "stats", "--config", cfgPath)
	if code != cli.ExitOK || !strings.Contains(out, "identity") || !strings.Contains(out, "quarantine  1") {
		t.Fatalf("stats: %d\n%s%s", code, out, errOut)
	}
	out, _, code = runCLI(t, "queue", "stats", "--config", cfgPath, "--json")
	var st queue.Stats
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &st) != nil || st.Lanes[queue.LaneIdentity].Depth != 1 || st.Quarantined != 1 {
		t.Fatalf("stats --json: %d %s", code, out)
	}

	out, errOut, code = runCLI(t, "queue", "list", "--config", cfgPath, "--body")
	if code != cli.ExitOK || !strings.Contains(out, "2 record(s)") || !strings.Contains(out, "7898") {
		t.Fatalf("list: %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, clearID) || strings.Contains(out, "张三") {
		t.Fatalf("list shows personal data in clear:\n%s", out)
	}
	out, _, _ = runCLI(t, "queue", "list", "--config", cfgPath, "--lane", "money")
	if !strings.Contains(out, "1 record(s)") || !strings.Contains(out, "payment") {
		t.Fatalf("list --lane money:\n%s", out)
	}

	out, _, code = runCLI(t, "queue", "quarantine", "list", "--config", cfgPath)
	if code != cli.ExitOK || !strings.Contains(out, "rejected: holder") || strings.Contains(out, clearID) {
		t.Fatalf("quarantine list: %d\n%s", code, out)
	}

	// Export: masked on stdout; in clear only to a new private file.
	out, _, code = runCLI(t, "queue", "quarantine", "export", "--config", cfgPath)
	if code != cli.ExitOK || strings.Contains(out, clearID) || !strings.Contains(out, `"reason"`) {
		t.Fatalf("export: %d\n%s", code, out)
	}
	if _, _, code = runCLI(t, "queue", "quarantine", "export", "--config", cfgPath, "--clear"); code != cli.ExitUsage {
		t.Fatalf("--clear to stdout: exit %d", code)
	}
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if _, errOut, code = runCLI(t, "queue", "quarantine", "export", "--config", cfgPath, "--clear", "-o", file); code != cli.ExitUsage ||
		!strings.Contains(errOut, "--operator") {
		t.Fatalf("export --clear without --operator: %d %s", code, errOut)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("export --clear without --operator wrote a file")
	}
	if _, errOut, code = runCLI(t, "queue", "quarantine", "export", "--config", cfgPath, "--clear", "-o", file, "--operator", "op-07"); code != cli.ExitOK {
		t.Fatalf("export --clear: %d %s", code, errOut)
	}
	b, _ := os.ReadFile(file)
	fi, _ := os.Stat(file)
	if !strings.Contains(string(b), clearID) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("clear export %v:\n%s", fi.Mode(), b)
	}
	// The clear export is audited: the operator, the record, the holder masked.
	logBytes, _ := os.ReadFile(filepath.Join(cfg.Agent.StateDir, audit.CurrentFile))
	var e audit.Entry
	if err := json.Unmarshal(logBytes, &e); err != nil || e.Operator != "op-07" || e.Token != "cli" ||
		e.Subject != mask.IDNumber(clearID) || strings.Contains(string(logBytes), clearID) {
		t.Fatalf("audit log after the clear export: %v\n%s", err, logBytes)
	}
	if out, _, code := runCLI(t, "audit", "verify", "--config", cfgPath); code != cli.ExitOK || !strings.Contains(out, "OK:") {
		t.Fatalf("audit verify: %d %s", code, out)
	}

	// While the agent holds the queue, the commands say so.
	key, _ := queue.LoadKey(cfg.Queue.KeyPath(cfg.Agent.StateDir), false)
	held, err := queue.Open(filepath.Join(cfg.Agent.StateDir, queue.FileName), queue.Options{Terminal: "X", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "queue", "stats", "--config", cfgPath)
	held.Close()
	if code != cli.ExitFail || !strings.Contains(errOut, "in use by the running agent") {
		t.Fatalf("locked: %d %s", code, errOut)
	}

	if _, _, code = runCLI(t, "queue", "quarantine", "retry", "--config", cfgPath); code != cli.ExitUsage {
		t.Fatalf("retry without --all or seqs: %d", code)
	}
	out, errOut, code = runCLI(t, "queue", "quarantine", "retry", "--config", cfgPath, "--all")
	if code != cli.ExitOK || !strings.Contains(out, "1 record(s) re-queued") {
		t.Fatalf("retry: %d %s%s", code, out, errOut)
	}
	out, _, _ = runCLI(t, "queue", "stats", "--config", cfgPath, "--json")
	_ = json.Unmarshal([]byte(out), &st)
	if st.Quarantined != 0 || st.Lanes[queue.LaneIdentity].Depth != 2 {
		t.Fatalf("after retry: %+v", st)
	}

	for _, bad := range [][]string{{"queue"}, {"queue", "bogus"}, {"queue", "quarantine"}, {"queue", "list", "--lane", "x", "--config", cfgPath}} {
		if _, _, code := runCLI(t, bad...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, cli.ExitUsage)
		}
	}
	if _, errOut, code := runCLI(t, "queue", "stats", "--state-dir", t.TempDir(), "--config", "/nonexistent.yaml"); code != cli.ExitFail || !strings.Contains(errOut, "no queue at") {
		t.Fatalf("empty state dir: %d %s", code, errOut)
	}
}

// TestQueueCLIRefusesNewerState: the queue commands refuse a state directory a newer
// release wrote, as the agent does, and change nothing in it.
func TestQueueCLIRefusesNewerState(t *testing.T) {
	cfgPath, cfg := queueFixture(t)
	marker := filepath.Join(cfg.Agent.StateDir, agent.StateMarker)
	newer := []byte(`{"schema":99,"writtenBy":"9.9.9"}`)
	if err := os.WriteFile(marker, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(cfg.Agent.StateDir, queue.FileName))
	for _, args := range [][]string{{"queue", "stats"}, {"queue", "list"}} {
		_, errOut, code := runCLI(t, append(args, "--config", cfgPath)...)
		if code == cli.ExitOK || !strings.Contains(errOut, "written by sscagent 9.9.9") || !strings.Contains(errOut, "nothing was changed") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	after, _ := os.ReadFile(filepath.Join(cfg.Agent.StateDir, queue.FileName))
	if m, _ := os.ReadFile(marker); string(m) != string(newer) || string(before) != string(after) {
		t.Error("the refused state directory was changed")
	}
}

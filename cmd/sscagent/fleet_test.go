package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// startTerminal runs a terminal's management session against broker until the test ends.
func startTerminal(t *testing.T, broker, id string, managerKeys ...string) {
	t.Helper()
	platform := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(platform.Close)
	dir := t.TempDir()
	app, err := mgmttest.NewApplier(dir, mgmttest.BaseConfig(id, platform.URL, filepath.Join(dir, "state")))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rollout.Open(rollout.Options{Dir: filepath.Join(dir, "state", "rollout"), Applier: app, Window: time.Second, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := app.Running()
	s, err := mgmt.New(mgmt.Options{Identity: cfg.Terminal, StateDir: cfg.Agent.StateDir, Rollout: eng,
		Config: mgmt.Config{Brokers: []string{broker}, TelemetryInterval: config.Duration(100 * time.Millisecond), ManagerKeys: managerKeys}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Wait for the birth and the first telemetry.
	c, err := fleet.Dial(ctx, fleet.Options{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts, _ := c.List(ctx, nil)
		if len(ts) == 1 && ts[0].Presence == fleet.Online && ts[0].Telemetry != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("terminal never came online")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fleetCLI runs the built binary and returns (exit code, stdout, stderr).
func fleetCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	out, errOut, rc := runCLI(t, args...)
	return rc, out, errOut
}

func TestFleetCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against mosquitto")
	}
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	startTerminal(t, b.URL, "KIOSK-0042")
	conn := []string{"--broker", b.URL}
	runFleet := func(sub string, args ...string) (int, string, string) {
		return fleetCLI(t, append(append([]string{"fleet", sub}, conn...), args...)...)
	}

	rc, out, errOut := runFleet("list")
	if rc != cli.ExitOK || !strings.Contains(out, "KIOSK-0042") || !strings.Contains(out, "online") || !strings.Contains(out, "1 terminals, 1 online") {
		t.Fatalf("list rc=%d\n%s%s", rc, out, errOut)
	}
	rc, out, _ = runFleet("list", "--json", "--match", "KIOSK-*")
	var ts []fleet.Terminal
	if rc != cli.ExitOK || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 1 || ts[0].Health != mgmt.HealthOK {
		t.Fatalf("list --json rc=%d %s", rc, out)
	}
	if rc, out, _ = runFleet("list", "--match", "GATE-*"); rc != cli.ExitOK || !strings.Contains(out, "0 terminals") {
		t.Fatalf("list --match rc=%d %s", rc, out)
	}
	rc, out, errOut = runFleet("show", "KIOSK-0042")
	if rc != cli.ExitOK || !strings.Contains(out, "presence  online (epoch 1)") || !strings.Contains(out, "Test Terminals Co. T-1") {
		t.Fatalf("show rc=%d\n%s%s", rc, out, errOut)
	}
	if rc, _, errOut = runFleet("show", "NOPE-1"); rc != cli.ExitFail || !strings.Contains(errOut, "never reported") {
		t.Fatalf("show unknown rc=%d %s", rc, errOut)
	}

	dir := t.TempDir()
	good := filepath.Join(dir, "debug.yaml")
	os.WriteFile(good, []byte("log:\n  level: debug\n"), 0o600)
	rc, out, errOut = runFleet("push-config", "--file", good, "--timeout", "20s", "KIOSK-*")
	if rc != cli.ExitOK || !strings.Contains(out, "KIOSK-0042: v1 committed") || !strings.Contains(errOut, "KIOSK-0042: v1 gating") {
		t.Fatalf("push rc=%d\n%s%s", rc, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("log:\n  level: loud\n  form: json\n"), 0o600)
	rc, out, _ = runFleet("push-config", "--file", bad, "--json", "KIOSK-0042")
	var pr []fleet.PushResult
	if rc != cli.ExitFail || json.Unmarshal([]byte(out), &pr) != nil || pr[0].Status != "rejected" || len(pr[0].Problems) != 2 {
		t.Fatalf("bad push rc=%d %s", rc, out)
	}

	rc, out, _ = runFleet("cmd", "ping", "KIOSK-0042")
	if rc != cli.ExitOK || !strings.Contains(out, "KIOSK-0042: ok") || !strings.Contains(out, `"pong":true`) {
		t.Fatalf("cmd ping rc=%d %s", rc, out)
	}
	rc, out, _ = runFleet("cmd", "--json", "--timeout", "5s", "queue.flush", "KIOSK-0042")
	if rc != cli.ExitFail || !strings.Contains(out, `"status": "unknown"`) {
		t.Fatalf("cmd unknown rc=%d %s", rc, out)
	}

	// Usage and connection errors.
	for _, args := range [][]string{
		{"fleet"}, {"fleet", "frob"}, {"fleet", "show"}, {"fleet", "cmd", "ping"}, {"fleet", "push-config", "KIOSK-1"},
		{"fleet", "list", "extra"}, {"fleet", "cmd", "--args", "{", "ping", "X"},
	} {
		if rc, _, _ := fleetCLI(t, args...); rc != cli.ExitUsage {
			t.Errorf("%v: rc %d, want %d", args, rc, cli.ExitUsage)
		}
	}
	dead := "tcp://127.0.0.1:" + strconv.Itoa(labtest.FreePort(t))
	if rc, _, errOut := fleetCLI(t, "fleet", "list", "--broker", dead, "--connect-timeout", "1s"); rc != cli.ExitFail || !strings.Contains(errOut, "connect") {
		t.Fatalf("dead broker rc=%d %s", rc, errOut)
	}
}

// TestFleetSigning: fleet keys gen writes a manager key pair (and never overwrites one);
// a terminal pinning its public key takes what fleet signs with --signing-key and
// refuses what goes unsigned.
func TestFleetSigning(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against mosquitto")
	}
	keys := t.TempDir()
	rc, out, errOut := fleetCLI(t, "fleet", "keys", "gen", "--out", keys, "--alg", "ed25519")
	if rc != cli.ExitOK || !strings.Contains(out, "BEGIN PUBLIC KEY") || !strings.Contains(out, "keyId: ") || !strings.Contains(out, "alg: ed25519") {
		t.Fatalf("keys gen rc=%d\n%s%s", rc, out, errOut)
	}
	priv, pub := filepath.Join(keys, "manager.key.pem"), filepath.Join(keys, "manager.pub.pem")
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key %v %v", fi, err)
	}
	before, _ := os.ReadFile(priv)
	if rc, _, errOut := fleetCLI(t, "fleet", "keys", "gen", "--out", keys); rc != cli.ExitFail || !strings.Contains(errOut, "refusing to overwrite") {
		t.Fatalf("second keys gen rc=%d %s", rc, errOut)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Fatal("the key was overwritten")
	}
	if rc, _, _ := fleetCLI(t, "fleet", "keys", "gen", "--out", t.TempDir(), "--alg", "rsa"); rc != cli.ExitUsage {
		t.Fatalf("--alg rsa rc=%d", rc)
	}

	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	startTerminal(t, b.URL, "KIOSK-0043", pub)
	conn := []string{"--broker", b.URL}
	rc, out, errOut = fleetCLI(t, append(append([]string{"fleet", "cmd"}, conn...), "--signing-key", priv, "ping", "KIOSK-0043")...)
	if rc != cli.ExitOK || !strings.Contains(out, "KIOSK-0043: ok") || strings.Contains(errOut, "warning") {
		t.Fatalf("signed cmd rc=%d\n%s%s", rc, out, errOut)
	}
	rc, out, errOut = fleetCLI(t, append(append([]string{"fleet", "cmd"}, conn...), "ping", "KIOSK-0043")...)
	if rc != cli.ExitFail || !strings.Contains(out, "refused") || !strings.Contains(out, "unsigned") || !strings.Contains(errOut, "no --signing-key") {
		t.Fatalf("unsigned cmd rc=%d\n%s%s", rc, out, errOut)
	}
	doc := filepath.Join(t.TempDir(), "debug.yaml")
	os.WriteFile(doc, []byte("log:\n  level: debug\n"), 0o600)
	rc, out, errOut = fleetCLI(t, append(append([]string{"fleet", "push-config"}, conn...), "--signing-key", priv, "--file", doc, "KIOSK-0043")...)
	if rc != cli.ExitOK || !strings.Contains(out, "KIOSK-0043: v1 committed") {
		t.Fatalf("signed push rc=%d\n%s%s", rc, out, errOut)
	}
	rc, out, errOut = fleetCLI(t, append(append([]string{"fleet", "push-config"}, conn...), "--file", doc, "KIOSK-0043")...)
	if rc != cli.ExitFail || !strings.Contains(out, "KIOSK-0043: v2 refused") {
		t.Fatalf("unsigned push rc=%d\n%s%s", rc, out, errOut)
	}
	rc, out, _ = fleetCLI(t, append(append([]string{"fleet", "show"}, conn...), "KIOSK-0043")...)
	if rc != cli.ExitOK || !strings.Contains(out, "desired   v2") {
		t.Fatalf("show rc=%d %s", rc, out)
	}
}

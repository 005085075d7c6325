package agent_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/internal/credential"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/queue"
)

// stateHolds fails t for every file under dir that holds one of the needles, raw or
// in hex.
func stateHolds(t *testing.T, dir string, needles map[string][]byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, n := range needles {
			if bytes.Contains(b, n) || bytes.Contains(bytes.ToLower(b), []byte(hex.EncodeToString(n))) {
				t.Errorf("%s holds the %s", p, what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSealedKeysStolenDisk runs the agent with every key a systemd credential (sealed
// and decrypted by the real systemd-creds): the channel key, the SM4 key and the
// queue's keySecret. Records are written (backflow held off, so they stay queued). The
// state directory holds none of the keys, the queue key or the record in clear. A copy
// of it, opened where the credentials are not handed over, gives a clear error and is
// left as it was; with the credentials it opens with the record.
func TestSealedKeysStolenDisk(t *testing.T) {
	dir := t.TempDir()
	sb := startSandbox(t, dir, platformsim.Options{Faults: []platformsim.Fault{{Op: "backflow", Kind: platformsim.FaultHTTP, Status: 503}}})
	pc := sb.ClientConfig(platformsim.DefaultChannel, true)
	chKey, err := pc.PrivateKey.Read()
	if err != nil {
		t.Fatal(err)
	}
	sm4Key, err := pc.SM4Key.Read()
	if err != nil {
		t.Fatal(err)
	}
	qs := make([]byte, 32)
	_, _ = rand.Read(qs)
	creds := labtest.SealCredentials(t, map[string][]byte{"channel-key": chKey, "sm4-key": sm4Key, "sscagent-queue": qs})
	r := newRig(t, rigOptions{SB: sb, Dir: dir,
		Replace: []string{"privateKey: " + string(pc.PrivateKey), "privateKey: credential:channel-key",
			"sm4Key: " + string(pc.SM4Key), "sm4Key: credential:sm4-key"},
		Extra: "queue:\n  keySecret: credential:sscagent-queue\n"})
	cfg := r.a.Config()
	if cfg.Platform.PrivateKey != "credential:channel-key" || cfg.Queue.KeySecret != "credential:sscagent-queue" {
		t.Fatalf("configuration: %q %q", cfg.Platform.PrivateKey, cfg.Queue.KeySecret)
	}
	rec := map[string]any{"accessNo": "350100000001", "businessSerialNo": "SEALED-0001",
		"credentialType": "01", "regionCode": "350100", "scene": "02", "institutionName": "示例",
		"institutionAddress": "示例市示例路1号", "authTime": "2026-01-05 10:00:00", "businessTime": "2026-01-05 10:00:01",
		"businessStatus": "成功", "channel": "线下自助终端", "coordinateSystem": "GCJ-02", "longitude": "1", "latitude": "1",
		"socialSecurityNo": zhangsan, "name": "张三"}
	if code, ans := r.call("POST", "/v1/records", map[string]any{"type": "credential", "record": rec}); code != http.StatusAccepted {
		t.Fatalf("record: %d %v", code, ans)
	}
	if err := r.run.Stop(); err != nil {
		t.Fatal(err)
	}
	state := cfg.Agent.StateDir
	qkey, from, err := cfg.Queue.KeySource(state).Load(false)
	if err != nil || from != queue.KeyFromWrapped {
		t.Fatalf("queue key: %v %v", from, err)
	}
	if _, err := os.Stat(filepath.Join(state, "queue.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a plain queue.key: %v", err)
	}
	stateHolds(t, state, map[string][]byte{"channel key": chKey, "SM4 key": bytes.TrimSpace(sm4Key), "queue secret": qs,
		"queue key": qkey, "holder's id number": []byte(zhangsan)})

	stolen := copyDir(t, state)
	before := snapshot(t, stolen)
	t.Setenv(credential.EnvDir, "")
	if _, err := agent.New(cfg, agent.Options{}); !errors.Is(err, credential.ErrUnavailable) || !strings.Contains(err.Error(), "platform.privateKey") {
		t.Fatalf("New without the credentials: %v", err)
	}
	// Only the queue's secret missing: the platform keys given as plain files.
	plainPlatform := cfg
	plainPlatform.Agent.StateDir = stolen
	plainPlatform.Platform.PrivateKey, plainPlatform.Platform.SM4Key = pc.PrivateKey, pc.SM4Key
	a, err := agent.New(plainPlatform, agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); !errors.Is(err, credential.ErrUnavailable) || !strings.Contains(err.Error(), "queue.keySecret") {
		t.Fatalf("Run without the queue's credential: %v", err)
	}
	after := snapshot(t, stolen)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d files before, %d after", len(before), len(after))
	}

	t.Setenv(credential.EnvDir, creds.Dir)
	key, _, err := cfg.Queue.KeySource(stolen).Load(false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(filepath.Join(stolen, queue.FileName), queue.Options{Terminal: cfg.Terminal.ID, Key: key, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	recs, err := q.List(queue.LaneIdentity, 10, true)
	if err != nil || len(recs) != 1 || !strings.Contains(string(recs[0].Body), "SEALED-0001") {
		t.Fatalf("with the credentials: %d records, %v", len(recs), err)
	}
}

// TestPlainSecretsWarning: a terminal without terminal.test whose keys are plain files
// starts, with a warning in the log and a secrets.plain event naming each field; a test
// terminal is not warned.
func TestPlainSecretsWarning(t *testing.T) {
	dir := t.TempDir()
	sb, err := platformsim.Start(context.Background(), filepath.Join(dir, "sandbox"), platformsim.StartOptions{Options: platformsim.Options{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	var log labtest.Output
	r := newRig(t, rigOptions{SB: sb, Dir: dir, Log: &log, Cards: "  driver: pcsc\n",
		Replace: []string{"  test: true\n", "  test: false\n"}})
	e := r.expect(agent.KindPlainSecrets, nil)
	got := fmt.Sprint(e.Data["secrets"])
	for _, f := range []string{"platform.privateKey", "platform.sm4Key", "localapi.tokenFile", "queue.keyFile"} {
		if !strings.Contains(got, f) {
			t.Errorf("secrets.plain names %s, not %s", got, f)
		}
	}
	if e.OK || e.Prompts == nil {
		t.Errorf("event %+v", e)
	}
	if !strings.Contains(log.String(), "secrets in plain files") {
		t.Errorf("no warning in the log")
	}
	test := newRig(t, rigOptions{})
	test.expect(agent.KindReady, nil)
	if n := test.count(agent.KindPlainSecrets, nil); n != 0 {
		t.Fatalf("a test terminal warned %d times", n)
	}
}

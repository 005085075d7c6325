package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform"
)

// TestSandboxPlatformCommand runs "sscsim platform" in-process on a free port with a
// fault flag, calls it with the client over HTTPS using the configuration it printed,
// and stops it.
func TestSandboxPlatformCommand(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut labtest.Output
	rc := make(chan int, 1)
	go func() {
		rc <- runPlatform(ctx, []string{"--listen", "127.0.0.1:0", "--keys", keys, "--test-keys",
			"--fault", "cardAuth:msgCode:code=900008:count=1"}, &out, &errOut)
	}()
	out.WaitFor(t, "ledger: curl")
	text := out.String()
	for _, want := range []string{"PUBLISHED TEST KEYS", "created " + filepath.Join(keys, "tls.crt"), "fault: cardAuth msgCode"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The printed platform section.
	field := func(name string) string {
		_, v, ok := strings.Cut(text, "\n  "+name+": ")
		if !ok {
			t.Fatalf("no %s in:\n%s", name, text)
		}
		v, _, _ = strings.Cut(v, "\n")
		return strings.Trim(v, `"`)
	}
	cfg := platform.DefaultConfig()
	cfg.BaseURL, cfg.ChannelNo = field("baseURL"), field("channelNo")
	cfg.PrivateKey, cfg.PlatformPublicKey = config.SecretFile(field("privateKey")), field("platformPublicKey")
	cfg.SM4Key, cfg.CAFile = config.SecretFile(field("sm4Key")), field("caFile")
	c, err := platform.New(cfg, platform.Options{TerminalID: "T", AllowTestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := platform.CardAuthRequest{IDNumber: "350102199003077898", CardNo: "D10000017", CardID: "350100D156000005300000016A5F3C21"}
	if _, err := c.CardAuth(ctx, req); platform.ClassOf(err) != platform.ClassRetryable {
		t.Fatalf("the --fault flag did not apply: %v", err)
	}
	if res, err := c.CardAuth(ctx, req); err != nil || res.CardStatus != "normal" {
		t.Fatalf("%+v %v", res, err)
	}
	// The holder's phone: login-approve against the running sandbox.
	lc, err := c.NewLoginCode(ctx, "05", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(cfg.BaseURL, "https://")
	var aout, aerr labtest.Output
	if rc := runLoginApprove(ctx, []string{"--sandbox", addr, lc.Content}, &aout, &aerr); rc != 0 ||
		!strings.Contains(aout.String(), "approved as **************7898") {
		t.Fatalf("login-approve: exit %d: %s%s", rc, aout.String(), aerr.String())
	}
	if r, err := c.PollLogin(ctx, lc.LoginID); err != nil || r.State != platform.LoginAuthorised || r.IDNumber.Clear() != "350102199003077898" {
		t.Fatalf("the login after login-approve: %+v %v", r, err)
	}
	if rc := runLoginApprove(ctx, []string{"--sandbox", addr, lc.Content}, &aout, &aerr); rc != 1 || !strings.Contains(aerr.String(), "no longer waiting") {
		t.Fatalf("a second approval: exit %d: %s", rc, aerr.String())
	}
	if rc := runLoginApprove(ctx, []string{"--sandbox", addr}, &aout, &aerr); rc != 2 {
		t.Fatalf("no CODE: exit %d", rc)
	}
	cancel()
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the sandbox did not stop")
	}
	// Started again on the same directory: nothing is created, the keys are reused.
	var out2, errOut2 labtest.Output
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { rc <- runPlatform(ctx2, []string{"--listen", "127.0.0.1:0", "--keys", keys}, &out2, &errOut2) }()
	out2.WaitFor(t, "ledger: curl")
	cancel2()
	<-rc
	if strings.Contains(out2.String(), "created ") || !strings.Contains(out2.String(), "PUBLISHED TEST KEYS") {
		t.Fatalf("second start:\n%s", out2.String())
	}
}

func TestSandboxPlatformUsage(t *testing.T) {
	var out, errOut labtest.Output
	for _, args := range [][]string{{}, {"--keys"}, {"--keys", "x", "extra"}, {"--keys", "x", "--fault", "nope"}, {"--keys", "x", "--log", "loud"}} {
		if rc := runPlatform(context.Background(), args, &out, &errOut); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
	bad := filepath.Join(t.TempDir(), "seed.json")
	os.WriteFile(bad, []byte(`{"persons":[{"idNumber":"1"}]}`), 0o600)
	if rc := runPlatform(context.Background(), []string{"--keys", t.TempDir(), "--seed-file", bad}, &out, &errOut); rc != 1 {
		t.Errorf("bad seed: exit %d", rc)
	}
}

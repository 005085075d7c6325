package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// platformConfig starts a sandbox platform and writes the example configuration
// pointing at it over HTTPS.
func platformConfig(t *testing.T, testKeys bool) (*platformsim.Sandbox, string) {
	t.Helper()
	return sandboxConfig(t, platformsim.StartOptions{TestKeys: testKeys})
}

// sandboxConfig is platformConfig with the sandbox's options, and further
// replacements in the example.
func sandboxConfig(t *testing.T, so platformsim.StartOptions, repl ...string) (*platformsim.Sandbox, string) {
	t.Helper()
	sb, err := platformsim.Start(context.Background(), t.TempDir(), so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	c := sb.ClientConfig(platformsim.DefaultChannel, true)
	cfg := writeConfig(t, append([]string{
		"baseURL: https://127.0.0.1:8443", "baseURL: " + c.BaseURL,
		"privateKey: keys/channel.key.pem", "privateKey: " + string(c.PrivateKey),
		"platformPublicKey: keys/platform.pub.pem", "platformPublicKey: " + c.PlatformPublicKey,
		"sm4Key: keys/sm4.key", "sm4Key: " + string(c.SM4Key),
		"caFile: keys/tls.crt", "caFile: " + c.CAFile,
	}, repl...)...)
	return sb, cfg
}

const cardData = `{"idNumber":"350102199003077898","name":"张三","cardNo":"D10000017","cardId":"350100D156000005300000016A5F3C21"}`

// TestPlatformCallCapturedRequest is the issue's "Done when": a request captured from
// "sscagent platform call" verifies with the OpenSSL CLI by following
// docs/platform-protocol.md alone; sent again it is refused as a replay; with one byte of
// data changed its signature fails.
func TestPlatformCallCapturedRequest(t *testing.T) {
	labtest.Require(t, "openssl", "jq", "bash")
	sb, cfg := platformConfig(t, true)
	req := filepath.Join(t.TempDir(), "req.json")
	out, errOut, code := runCLI(t, "platform", "call", "cardAuth", "--config", cfg, "--data", cardData, "--save-request", req)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"class      success", "msgCode    000000", "cardStatus  normal", "name        *三"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	body, err := os.ReadFile(req)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+errOut, "张三") || bytes.Contains(body, []byte("张三")) || bytes.Contains(body, []byte("350102199003077898")) {
		t.Fatalf("personal data in clear:\n%s\n%s", out, body)
	}

	// The document's commands, run on the captured request.
	script := labtest.DocBlock(t, "../../docs/platform-protocol.md", "<!-- test:captured-request -->")
	c := sb.ClientConfig(platformsim.DefaultChannel, true)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "REQ="+req, "SM4KEY="+string(c.SM4Key),
		"PUB="+filepath.Join(sb.Keys.Dir, "channels", platformsim.DefaultChannel, "channel.pub.pem"))
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "Verified OK") || !strings.HasSuffix(string(got), "350102199003077898") {
		t.Fatalf("the documented verification failed: %v\n%s", err, got)
	}

	// Sent again: a replay. One byte of data changed: a bad signature.
	send := func(b []byte) string {
		t.Helper()
		pem, _ := os.ReadFile(c.CAFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := hc.Post(c.BaseURL+"/api/v1/card/auth", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		r, _, err := protocol.ParseResponse(rb)
		if err != nil {
			t.Fatalf("%s: %v", rb, err)
		}
		return r.MsgCode
	}
	if mc := send(body); mc != protocol.CodeReplay {
		t.Fatalf("replayed request answered %s", mc)
	}
	i := bytes.Index(body, []byte(`D10000017`))
	if i < 0 || i < bytes.Index(body, []byte(`"data"`)) {
		t.Fatal("cardNo not found in data")
	}
	altered := bytes.Clone(body)
	altered[i+8] = '8' // one byte inside data
	if mc := send(altered); mc != protocol.CodeBadSignature {
		t.Fatalf("altered request answered %s", mc)
	}
}

func TestPlatformCallOutcomes(t *testing.T) {
	sb, cfg := platformConfig(t, false)
	// The example terminal is a test terminal, but these keys are random: accepted.
	code, _, err := sb.IssueQR("350102199003077898")
	if err != nil {
		t.Fatal(err)
	}
	data := `{"orderNo":"CLI-1","amount":"9.90","qrCode":"` + code + `","subject":"测试"}`
	out, errOut, rc := runCLI(t, "platform", "call", "micropay", "--config", cfg, "--data", data, "--json")
	if rc != 0 {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
	var o struct {
		Class  string
		Result map[string]any
	}
	if err := json.Unmarshal([]byte(out), &o); err != nil || o.Class != "success" || o.Result["tradeState"] != "SUCCESS" ||
		o.Result["idNumber"] != "**************7898" {
		t.Fatalf("%v %s", err, out)
	}
	if strings.Contains(out, code) {
		t.Fatal("e-card code printed")
	}
	// The same code again: a business rejection, exit 1, with the 8.4 prompt.
	out, errOut, rc = runCLI(t, "platform", "call", "micropay", "--config", cfg, "--data", strings.Replace(data, "CLI-1", "CLI-2", 1))
	if rc != 1 || !strings.Contains(errOut, "class      rejected") || !strings.Contains(errOut, "200003") || !strings.Contains(errOut, "[400203]") {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
	// Usage errors.
	for _, args := range [][]string{
		{"platform"}, {"platform", "call"}, {"platform", "call", "teleport", "--config", cfg, "--data", "{}"},
		{"platform", "call", "cardAuth", "--config", cfg}, {"platform", "call", "cardAuth", "--config", cfg, "--data", `{"a":1}`},
	} {
		if _, _, rc := runCLI(t, args...); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
	// Parameters the client refuses: nothing is sent.
	_, errOut, rc = runCLI(t, "platform", "call", "orderQuery", "--config", cfg, "--data", `{}`)
	if rc != 1 || !strings.Contains(errOut, "missing orderNo") {
		t.Fatalf("exit %d\n%s", rc, errOut)
	}
	if n := sb.Ledger().Answers; n[protocol.CodeOK] != 1 || n[protocol.CodeQRUsed] != 1 || len(n) != 2 {
		t.Fatalf("the platform saw %v", n)
	}
	out, _, rc = runCLI(t, "platform", "ops")
	if rc != 0 || !strings.Contains(out, "backflow") || !strings.Contains(out, "records[].record") {
		t.Fatalf("ops: %d\n%s", rc, out)
	}
}

func TestKeysGen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k")
	out, errOut, rc := runCLI(t, "keys", "gen", "--out", dir, "--sm4")
	if rc != 0 || !strings.Contains(out, "-----BEGIN PUBLIC KEY-----") || !strings.Contains(out, "fingerprint: ") {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "channel.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := protocol.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, k.Public().Fingerprint()) {
		t.Fatal("printed fingerprint is not the key's")
	}
	for name, mode := range map[string]os.FileMode{"channel.key.pem": 0o600, "channel.pub.pem": 0o644, "sm4.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	if _, err := exec.LookPath("openssl"); err == nil {
		if b, err := exec.Command("openssl", "pkey", "-in", filepath.Join(dir, "channel.key.pem"), "-noout", "-check").CombinedOutput(); err != nil {
			t.Fatalf("openssl does not read the key: %s", b)
		}
	}
	// Never overwrites.
	_, errOut, rc = runCLI(t, "keys", "gen", "--out", dir)
	if rc != 1 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Fatalf("exit %d: %s", rc, errOut)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "channel.key.pem")); !bytes.Equal(again, keyPEM) {
		t.Fatal("key overwritten")
	}
	if _, _, rc := runCLI(t, "keys", "gen"); rc != 2 {
		t.Fatalf("no --out: exit %d", rc)
	}

	// keys show marks the published test keys.
	_, cfg := platformConfig(t, true)
	out, errOut, rc = runCLI(t, "keys", "show", "--config", cfg)
	if rc != 0 || strings.Count(out, "PUBLISHED TEST KEY") != 3 {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
}

// TestPlatformCheckAndProfile runs "platform check" and "platform profile show" against
// a sandbox speaking appendix-d, and shows both failing loudly.
func TestPlatformCheckAndProfile(t *testing.T) {
	auth, err := platformsim.ParseAuthorisation([]byte("channels:\n  \"350100000001\": {operations: [cardAuth, cardInternalAuth, ecardDecode, orderQuery, reverse, merchantQR, backflow]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := sandboxConfig(t, platformsim.StartOptions{Profile: "appendix-d"}, "profile: sscsim", "profile: appendix-d")
	out, errOut, rc := runCLI(t, "platform", "check", "--config", cfg)
	if rc != 0 {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
	for _, op := range []string{"cardAuth", "cardInternalAuth", "ecardDecode", "orderQuery", "micropay", "reverse", "merchantQR", "backflow"} {
		if !regexp.MustCompile(`(?m)^` + op + ` +yes +yes +yes +[0-9.]+ms`).MatchString(out) {
			t.Errorf("no passing row for %s:\n%s", op, out)
		}
	}
	if !strings.Contains(out, "profile appendix-d") {
		t.Errorf("no profile line:\n%s", out)
	}
	out, errOut, rc = runCLI(t, "platform", "profile", "show", "--config", cfg)
	if rc != 0 || !strings.Contains(out, "name: appendix-d") || !strings.Contains(out, "payload: object") || !strings.Contains(out, "date: YYYY-MM-DD") {
		t.Fatalf("profile show: exit %d\n%s%s", rc, out, errOut)
	}
	// The shown profile is a profile document: it parses back to the same dialect.
	body := out[strings.Index(out, "\nprofile:")+1:]
	if _, err := protocol.ParseProfile([]byte(body)); err != nil {
		t.Fatalf("shown profile does not parse: %v\n%s", err, body)
	}

	// Not authorised for micropay: that row says so, and check fails.
	_, cfg2 := sandboxConfig(t, platformsim.StartOptions{Options: platformsim.Options{Authorise: auth}})
	out, _, rc = runCLI(t, "platform", "check", "--config", cfg2)
	if rc != 1 || !regexp.MustCompile(`(?m)^micropay +yes +yes +NO .*900006`).MatchString(out) {
		t.Fatalf("exit %d\n%s", rc, out)
	}
	// A terminal in another dialect than its platform: nothing verifies.
	_, cfg3 := sandboxConfig(t, platformsim.StartOptions{}, "profile: sscsim", "profile: appendix-d")
	out, _, rc = runCLI(t, "platform", "check", "--config", cfg3)
	if rc != 1 || strings.Contains(out, " yes  yes  yes ") {
		t.Fatalf("exit %d\n%s", rc, out)
	}

	// A broken profile file: config check names the file and the YAML path.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("profile:\n  values: {amount: li}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg4 := writeConfig(t, "profile: sscsim", "profile: "+bad)
	_, errOut, rc = runCLI(t, "config", "check", "--config", cfg4)
	if rc != 1 || !strings.Contains(errOut, "platform.profile: "+bad+": profile.values.amount: must be") {
		t.Fatalf("config check: exit %d\n%s", rc, errOut)
	}
	_, errOut, rc = runCLI(t, "platform", "profile", "show", "--profile", bad)
	if rc != 1 || !strings.Contains(errOut, "profile.values.amount") {
		t.Fatalf("profile show: exit %d\n%s", rc, errOut)
	}
	// Deprecated settings still work, with a warning naming the new key.
	cfg5 := writeConfig(t, "  profile: sscsim", "  profile: sscsim\n  signature: {encoding: base64}")
	out, errOut, rc = runCLI(t, "config", "check", "--config", cfg5)
	if rc != 0 || !strings.Contains(errOut, "warning: platform.signature is deprecated: set profile.signature") ||
		!strings.Contains(out, "platform profile sscsim") {
		t.Fatalf("config check: exit %d\n%s%s", rc, out, errOut)
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform/platformsim"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sscagent-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sscagent")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeConfig writes the example configuration with its state directory moved into a
// temporary directory and the given replacements applied.
func writeConfig(t *testing.T, repl ...string) string {
	t.Helper()
	src, err := os.ReadFile("../../packaging/sscagent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	repl = append(repl, "stateDir: /var/lib/sscagent", "stateDir: "+filepath.Join(dir, "state"))
	p := filepath.Join(dir, "sscagent.yaml")
	if err := os.WriteFile(p, []byte(strings.NewReplacer(repl...).Replace(string(src))), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeKeys creates the key files the example configuration names (dir/keys/...): a
// sandbox key directory's channel and platform keys, its TLS certificate and a local
// API token.
func writeKeys(t *testing.T, dir string) {
	t.Helper()
	kd, err := platformsim.OpenKeyDir(filepath.Join(dir, "sandbox"), []string{platformsim.DefaultChannel}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	ch := filepath.Join(kd.Dir, "channels", platformsim.DefaultChannel)
	for dst, src := range map[string]string{
		"channel.key.pem": filepath.Join(ch, "channel.key.pem"), "sm4.key": filepath.Join(ch, "sm4.key"),
		"platform.pub.pem": filepath.Join(kd.Dir, "platform.pub.pem"), "tls.crt": kd.CertFile,
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(keys, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keys, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(keys, "localapi.token"), []byte("test-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestConfigCheck(t *testing.T) {
	good := writeConfig(t)
	if out, errOut, code := runCLI(t, "config", "check", "--config", good); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("valid config: code %d, out %q, err %q", code, out, errOut)
	}
	bad := writeConfig(t,
		`channelNo: "350100000001"`, `channelNo: "0101"`,
		`region: "350100"`, `region: "3501"`,
		"  level: info", "  levle: info",
	)
	_, errOut, code := runCLI(t, "config", "check", "--config", bad)
	if code != 1 {
		t.Fatalf("invalid config exit code %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"platform.channelNo:", "terminal.region:", "log.levle: unknown field", "3 problem(s)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	if _, _, code := runCLI(t, "config", "check", "--config", filepath.Join(t.TempDir(), "nope.yaml")); code != 1 {
		t.Errorf("missing file: exit %d, want 1", code)
	}
}

func TestUsageAndVersion(t *testing.T) {
	if _, _, code := runCLI(t, "frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: %d %q", code, out)
	}
}

// TestRunAndSIGTERM starts the daemon, waits for its readiness line, sends SIGTERM and
// requires exit status 0 within the configured shutdown bound.
func TestRunAndSIGTERM(t *testing.T) {
	cfg := writeConfig(t, "shutdownTimeout: 10s", "shutdownTimeout: 3s", "format: auto", "format: json",
		"listen: 127.0.0.1:8765", "listen: 127.0.0.1:0")
	writeKeys(t, filepath.Dir(cfg))
	cmd, lines := startRun(t, cfg)
	waitLine(t, lines, `"msg":"sscagent ready"`)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"sscagent stopped"`)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("stop took %v, beyond the 3s bound", d)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "state")); err != nil {
		t.Fatalf("state dir not created: %v", err)
	}
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q within 10s", want)
		}
	}
}

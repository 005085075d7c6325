package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunReloadOnSIGHUP: SIGHUP applies a changed configuration file in process (the
// scene's label here), and an invalid file changes nothing; the agent keeps running
// and stops cleanly on SIGTERM.
func TestRunReloadOnSIGHUP(t *testing.T) {
	cfg := writeConfig(t, "format: auto", "format: json", "listen: 127.0.0.1:8765", "listen: 127.0.0.1:0",
		"/dev/ttyACM0", filepath.Join(t.TempDir(), "no-scanner"))
	writeKeys(t, filepath.Dir(cfg))
	cmd, lines := startRun(t, cfg)
	waitLine(t, lines, `"msg":"sscagent ready"`)

	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(from, to string) {
		t.Helper()
		if !strings.Contains(string(src), from) {
			t.Fatalf("%q not in the configuration", from)
		}
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(src), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	edit(`label: "02/市民服务中心闸机"`, `label: "02/市民服务中心东门闸机"`)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"configuration applied"`)
	edit("  level: info", "  level: loud")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"reload: nothing changed"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"sscagent stopped"`)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// startRun starts "sscagent run --config cfg" and returns it with its stderr lines. The
// process is killed at the end of the test if still running.
func startRun(t *testing.T, cfg string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 10000) // never full: the agent must not block on stderr
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

// TestRunLogFile: with log.file set, the log goes to that file (relative to the
// configuration) and not to standard error.
func TestRunLogFile(t *testing.T) {
	cfg := writeConfig(t, "format: auto", "format: json", `file: ""`, "file: logs/agent.log",
		"listen: 127.0.0.1:8765", "listen: 127.0.0.1:0")
	writeKeys(t, filepath.Dir(cfg))
	cmd, lines := startRun(t, cfg)
	path := filepath.Join(filepath.Dir(cfg), "logs", "agent.log")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), `"msg":"sscagent ready"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no readiness line in %s within 10s: %q", path, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for l := range lines {
		if strings.Contains(l, `"msg":`) {
			t.Errorf("a log line on standard error: %s", l)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file: %v %v", fi, err)
	}
}

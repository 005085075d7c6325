package main

import (
	"bufio"
	"net"
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
// and stops cleanly on SIGTERM. In the foreground and as a service (systemctl reload
// sends SIGHUP to `run --service`, where the service library catches only SIGINT and
// SIGTERM). The systemd notifications, on a real notify socket, follow: READY=1,
// RELOADING=1 and READY=1 around each reload, STOPPING=1.
func TestRunReloadOnSIGHUP(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{{"foreground", nil}, {"service", []string{"--service"}}} {
		t.Run(mode.name, func(t *testing.T) { testReloadOnSIGHUP(t, mode.args) })
	}
}

func testReloadOnSIGHUP(t *testing.T, args []string) {
	cfg := writeConfig(t, "format: auto", "format: json", "listen: 127.0.0.1:8765", "listen: 127.0.0.1:0",
		"/dev/ttyACM0", filepath.Join(t.TempDir(), "no-scanner"))
	writeKeys(t, filepath.Dir(cfg))
	notify := notifySocket(t)
	cmd, lines := startRun(t, cfg, append(args, "NOTIFY_SOCKET="+notify.path)...)
	waitLine(t, lines, `"msg":"sscagent ready"`)
	notify.want(t, "READY=1\nSTATUS=ready")

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
	notify.want(t, "RELOADING=1\nSTATUS=reloading the configuration")
	notify.want(t, "READY=1\nSTATUS=ready")
	edit("  level: info", "  level: loud")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"reload: nothing changed"`)
	notify.want(t, "RELOADING=1\nSTATUS=reloading the configuration")
	notify.want(t, "READY=1\nSTATUS=ready; the last reload changed nothing (see the log)")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, `"msg":"sscagent stopped"`)
	notify.want(t, "STOPPING=1\nSTATUS=stopping")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// notified is a systemd notify socket (a unix datagram socket) and what arrived on it.
type notified struct {
	path string
	msgs chan string
}

func notifySocket(t *testing.T) *notified {
	t.Helper()
	n := &notified{path: filepath.Join(t.TempDir(), "notify"), msgs: make(chan string, 100)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// want skips the STATUS=-only and WATCHDOG=1 messages and fails unless the next other
// one is msg.
func (n *notified) want(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-n.msgs:
			if m == "WATCHDOG=1" || strings.HasPrefix(m, "STATUS=") {
				continue
			}
			if m != msg {
				t.Fatalf("notified %q, want %q", m, msg)
			}
			return
		case <-timeout:
			t.Fatalf("no notification %q within 10s", msg)
		}
	}
}

// startRun starts "sscagent run --config cfg" and returns it with its stderr lines.
// extra holds more flags of run, and NAME=VALUE words for its environment. The process
// is killed at the end of the test if still running.
func startRun(t *testing.T, cfg string, extra ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", cfg)
	for _, x := range extra {
		if strings.HasPrefix(x, "-") {
			cmd.Args = append(cmd.Args, x)
		} else {
			cmd.Env = append(cmd.Environ(), x)
		}
	}
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

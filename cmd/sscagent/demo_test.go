package main

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
)

// TestDemo runs "sscagent demo" as the README's first command runs it, with a pipe for
// standard input (not a terminal): a card insert and an e-card scan go through to the
// sandbox platform's ledger, :pay completes a payment with the next scanned code, the
// demo keeps running after its input ends, and SIGTERM stops it with exit status 0 and
// removes its scratch directory. Nothing it prints holds an ID number or a name in
// clear.
func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(binary, "demo", "--dir", dir, "--listen-api", "127.0.0.1:0", "--no-color")
	var out, errOut labtest.Output
	cmd.Stdout, cmd.Stderr = &out, &errOut
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error // set before exited is closed
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
	})
	send := func(line string) {
		t.Helper()
		if _, err := in.Write([]byte(line + "\n")); err != nil {
			t.Fatalf("write %q: %v", line, err)
		}
	}
	out.WaitFor(t, "Try:")

	send(":insert 张三")
	out.WaitFor(t, "gate opened for scene lobby-gate")
	out.WaitFor(t, "C.3 办事凭证 *三 **************7898 实体社会保障卡鉴权")

	send(":qr 王五")
	out.WaitFor(t, "C.3 办事凭证 *五 **************1235 电子社会保障卡二维码扫码认证")

	send(":pay 12.50 感冒药")
	out.WaitFor(t, "waits for the holder's payment code at the counter")
	send(":qr 王五")
	out.WaitFor(t, "SUCCESS ¥12.50 payer **************1235")
	out.WaitFor(t, "C.4 支付结算 ¥12.50 *五 **************1235")

	in.Close()
	out.WaitFor(t, "console input ended")
	// Still serving: the local API answers with the demo's token.
	m := regexp.MustCompile(`local API +http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no local API address in the banner:\n%s", out.String())
	}
	tok, err := os.ReadFile(filepath.Join(dir, "localapi.token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+m[1]+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("local API after the input ended: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/status: %s", resp.Status)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v (want status 0)", waitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15s of SIGTERM")
	}
	if !strings.Contains(out.String(), "agent stopped cleanly") {
		t.Errorf("no clean stop reported:\n%s", out.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch directory left behind without --keep: %v", err)
	}
	// The flow lines (after a time stamp; the banner names the test people in its
	// examples) show ID numbers and names masked only.
	stamped := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} .*$`)
	flow := strings.Join(stamped.FindAllString(out.String()+errOut.String(), -1), "\n")
	for _, clear := range []string{"350102199003077898", "350103197001011235", "张三", "王五"} {
		if strings.Contains(flow, clear) {
			t.Errorf("%q printed in clear", clear)
		}
	}
}

package agent_test

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
)

// TestMetrics: with metrics.listen set, GET /metrics after a card read shows the read,
// the platform calls with their latency, the queue and the devices, promtool finds no
// problem in it, and no personal data is in it.
func TestMetrics(t *testing.T) {
	hook := newGateHook(t)
	r := newRig(t, rigOptions{Scenes: gateScene(hook.srv.URL), Extra: "metrics:\n  listen: 127.0.0.1:0\n"})
	r.a.Cards().WaitReady(t.Context())
	insert(t, r, "zhangsan")
	r.expect("gate.opened", nil)
	insert(t, r, "zhaoliu") // a lost card: rejected
	r.expect("auth.rejected", nil)

	deadline := time.Now().Add(10 * time.Second)
	for r.a.MetricsAddr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("metrics not listening within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + r.a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	text := string(body)
	for _, want := range []string{
		`sscagent_reads_total{medium="card",outcome="succeeded",scene="gate"} 1`,
		`sscagent_reads_total{medium="card",outcome="rejected",scene="gate"} 1`,
		`sscagent_platform_calls_total{class="success",operation="cardAuth"} 1`,
		`sscagent_platform_calls_total{class="rejected",operation="cardAuth"} 1`,
		`sscagent_platform_call_duration_seconds_count{operation="cardAuth"} 2`,
		`sscagent_queue_records{lane="identity"}`,
		`sscagent_queue_quarantined_records 0`,
		`sscagent_payments_open 0`,
		`sscagent_platform_up 1`,
		`sscagent_psam_usable 1`,
		`sscagent_build_info{commit=`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s in\n%s", want, grepPrefix(text, "sscagent_"))
		}
	}
	if !regexp.MustCompile(`sscagent_reader_card_present\{reader="[^"]+"\} 1`).MatchString(text) {
		t.Errorf("no reader with a card:\n%s", grepPrefix(text, "sscagent_reader"))
	}
	for _, secret := range []string{"350102199003077898", "张三", "350203199512304560", "赵六", "D10000017"} {
		if strings.Contains(text, secret) {
			t.Errorf("personal data %q in the metrics", secret)
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		labtest.Unavailable(t, "promtool is not installed (Debian package prometheus; .ci/run installs it)")
		return
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func grepPrefix(text, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

package demo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/demo"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// TestRun drives the demo in process (under the race detector in make test): a card
// read through to the sandbox ledger while the sandbox refuses backflow (the record
// waits and flows once it recovers), a payment the platform refuses (an identity-only
// e-card), the local API commands, and :quit, after which Run has stopped everything
// and removed its directory.
func TestRun(t *testing.T) { testRun(t, "") }

// TestRunAppendixD is the whole demo with both sides speaking the standard's text
// literally (platform.profile: appendix-d; docs/platform-profiles.md).
func TestRunAppendixD(t *testing.T) { testRun(t, "appendix-d") }

func testRun(t *testing.T, profile string) {
	dir := filepath.Join(t.TempDir(), "demo")
	inR, inW := io.Pipe()
	var out labtest.Output
	ready := make(chan *demo.Env, 1)
	agents := make(chan *agent.Agent, 1)
	res := make(chan error, 1)
	go func() {
		res <- demo.Run(context.Background(), demo.Options{
			EnvOptions: demo.EnvOptions{Dir: dir, ListenAPI: "127.0.0.1:0", Profile: profile},
			In:         inR,
			Out:        &out,
			Ready:      func(e *demo.Env, a *agent.Agent) { ready <- e; agents <- a },
		})
	}()
	var env *demo.Env
	select {
	case env = <-ready:
	case err := <-res:
		t.Fatalf("Run ended at start: %v\n%s", err, out.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("not ready within 20s:\n%s", out.String())
	}
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatalf("write %q: %v", line, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	})

	want := profile
	if want == "" {
		want = "sscsim"
	}
	if p := env.Config.Platform.Profile; p != profile || env.Sandbox.Dialect().Name() != want {
		t.Fatalf("the agent speaks %q, the sandbox %q; want %q", p, env.Sandbox.Dialect().Name(), profile)
	}
	send(":fault backflow:http:count=1")
	send(":insert lisi")
	out.WaitFor(t, "gate opened for scene "+demo.SceneGate)
	out.WaitFor(t, "backflow.outage")
	out.WaitFor(t, "C.3 办事凭证 *四 **************0027 实体社会保障卡鉴权")

	send(":pay 2.00 挂号费")
	out.WaitFor(t, "waits for the holder's payment code at the counter")
	send(":qr lisi") // 一级签发: identity only, the platform refuses the payment
	out.WaitFor(t, "payment.failed ["+demo.ScenePOS+"]")

	// The metrics after the reads: the counters are there, no personal data is.
	checkMetrics(t, <-agents)
	send(":status")
	out.WaitFor(t, "parts: ")
	out.WaitFor(t, "GET /v1/status: {")
	send(":queue")
	out.WaitFor(t, "GET /v1/queue: {")
	send(":ledger")
	out.WaitFor(t, "records stored 1 (by kind: credential 1)")
	send(":nonsense")
	out.WaitFor(t, "unknown command :nonsense")

	if got := env.Sandbox.Ledger(); len(got.Records) != 1 {
		t.Errorf("sandbox ledger has %d records, want 1", len(got.Records))
	}
	medicalAndRefund(t, env, &out, send)
	faceAndLogin(t, &out, send)
	send(":qr wangwu") // at the gate: 电子社会保障卡二维码扫码认证
	waitCount(t, &out, "gate opened for scene "+demo.SceneGate+" (", 2)
	checkCatalogue(t, env)

	// A record that cannot flow back before the end is reported.
	send(":fault backflow:http:count=1000")
	send(":insert zhangsan")
	waitCount(t, &out, "gate opened for scene", 3)
	send(":quit")
	select {
	case err := <-res:
		if !errors.Is(err, demo.ErrQuit) {
			t.Fatalf("Run after :quit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of :quit")
	}
	inW.Close()
	if strings.Contains(out.String(), "654321") {
		t.Error("the wrong PIN typed for :medical is in the output")
	}
	if !strings.Contains(out.String(), "agent stopped cleanly") {
		t.Error("no clean stop reported")
	}
	if !strings.Contains(out.String(), "1 record(s) had not flowed back yet: they go with the scratch directory") {
		t.Error("the record left in the queue was not reported")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory not removed: %v", err)
	}
}

// medicalAndRefund settles on 张三's card at the medical counter (a wrong PIN first:
// refused, nothing debited), then pays an order with 王五's e-card and refunds part of
// it; the sandbox ledger holds the settlement's and the refund's C.4 records.
func medicalAndRefund(t *testing.T, env *demo.Env, out *labtest.Output, send func(string)) {
	t.Helper()
	send(":medical zhangsan 36.50,12.00,100.00 654321")
	out.WaitFor(t, "medical.refused ["+demo.SceneMedical+"/"+demo.MedicalReader+"]")
	send(":medical zhangsan 36.50,12.00,100.00 123456")
	out.WaitFor(t, "settlement ")
	out.WaitFor(t, "(个人账户 ¥36.50, 自付 ¥12.00, 统筹 ¥100.00) debited by psam, personal account now ¥963.50")
	out.WaitFor(t, "medical.debited ["+demo.SceneMedical)

	send(":pay 5.00 挂号费")
	out.WaitFor(t, "¥5.00 \"挂号费\" waits for the holder's payment code")
	send(":qr wangwu")
	out.WaitFor(t, "payment.recorded ["+demo.ScenePOS+"]")
	var order string
	for _, p := range env.Sandbox.Ledger().Payments {
		if p.State == "SUCCESS" {
			order = p.OrderNo
		}
	}
	if order == "" {
		t.Fatalf("no paid order in the sandbox's ledger: %+v", env.Sandbox.Ledger().Payments)
	}
	send(":refund " + order + " 2.00")
	out.WaitFor(t, "refund.succeeded")
	out.WaitFor(t, "by operator "+demo.Operator)
	send(":refund " + order + " 4.00") // more than is left: refused
	out.WaitFor(t, "POST /v1/payments/"+order+"/refunds: 4")

}

// faceAndLogin verifies 张三's face after a read at the medical counter (his photograph
// passes, 李四's fails), then runs a QR login the sandbox's e-card app approves, one it
// refuses, and an 信息授权登录 (04).
func faceAndLogin(t *testing.T, out *labtest.Output, send func(string)) {
	t.Helper()
	send(":face zhangsan")
	out.WaitFor(t, "POST /v1/face: pass (score 96.40")
	send(":face zhangsan lisi")
	out.WaitFor(t, "POST /v1/face: fail (score ")
	send(":approve zhangsan")
	out.WaitFor(t, "no login waiting: start one with :login")
	send(":login")
	out.WaitFor(t, ":approve 张三 or :refuse plays the holder's phone")
	send(":approve zhangsan")
	out.WaitFor(t, ": authorised as *三 **************7898, record ")
	send(":login")
	waitCount(t, out, ":approve 张三 or :refuse plays the holder's phone", 2)
	send(":refuse")
	out.WaitFor(t, ": refused 您已取消登录 [100145]")
	send(":login 04")
	out.WaitFor(t, "(type 04) shows a QR code")
	send(":approve wangwu")
	waitCount(t, out, ": authorised as ", 2)
}

// checkCatalogue is the list of every table C.6 办事凭证类型 and C.10 支付结算类型 value
// the agent produces, with the scene that produces it (docs/records.md "What the agent
// records"): after the demo's flows, the sandbox holds exactly these.
func checkCatalogue(t *testing.T, env *demo.Env) {
	t.Helper()
	want := map[string]bool{}
	for _, w := range []struct {
		r          records.Range
		code, from string
	}{
		{records.RangeCredentialType, "01", demo.SceneGate},    // a card at the gate
		{records.RangeCredentialType, "02", demo.SceneGate},    // an e-card code at the gate
		{records.RangeCredentialType, "03", demo.SceneMedical}, // face verification after a read
		{records.RangeCredentialType, "04", demo.SceneGate},    // 信息授权登录 (in the first scene)
		{records.RangeCredentialType, "05", demo.SceneGate},    // 扫码登录
		{records.RangeSettlementType, "01", demo.ScenePOS},     // a payment scene's configured type
		{records.RangeSettlementType, "03", demo.SceneMedical}, // medical settlement (门诊支付)
		{records.RangeSettlementType, "08", demo.ScenePOS},     // a refund of a paid order
	} {
		v, _ := w.r.Lookup(w.code)
		from := w.from
		for _, sc := range env.Config.Scenes {
			if sc.Name == w.from {
				from = sc.Label
			}
		}
		want[w.r.Rule()+" "+v.Label+" @ "+from] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]bool{}
		for _, r := range env.Sandbox.Ledger().Records {
			var f struct {
				CredentialType, SettlementType, Scene, PaymentScene string
				Channel                                             string
			}
			if err := json.Unmarshal(r.Record, &f); err != nil {
				t.Fatalf("ledger record: %v", err)
			}
			// A record carries no PIN, photograph or login ticket.
			for _, s := range []string{`"pin"`, "sscsim-login:", portraitPrefix} {
				if strings.Contains(strings.ToLower(string(r.Record)), strings.ToLower(s)) {
					t.Fatalf("a record holds %.16q…", s)
				}
			}
			switch {
			case f.CredentialType != "":
				got[records.RangeCredentialType.Rule()+" "+f.CredentialType+" @ "+f.Scene] = true
			case f.SettlementType != "":
				got[records.RangeSettlementType.Rule()+" "+f.SettlementType+" @ "+f.PaymentScene] = true
			}
		}
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger records by value and scene:\n%v\nwant\n%v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portraitPrefix is how 张三's test portrait begins in base64, as POST /v1/face sends it.
var portraitPrefix = func() string {
	img, _ := platformsim.Portrait(demo.People[0].IDNumber)
	return base64.StdEncoding.EncodeToString(img[:48])
}()

// waitCount waits until out holds s n times.
func waitCount(t *testing.T, out *labtest.Output, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q not %d times within 10s", s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkMetrics reads GET /metrics of the demo's agent: the reads so far are counted, and
// no ID number, name or e-card code of the demo's people is in it.
func checkMetrics(t *testing.T, a *agent.Agent) {
	t.Helper()
	resp, err := http.Get("http://" + a.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !strings.Contains(text, `sscagent_reads_total{medium="card",outcome="succeeded",scene="`+demo.SceneGate+`"} 1`) ||
		!strings.Contains(text, `sscagent_platform_calls_total{class="rejected",operation="micropay"} 1`) {
		t.Errorf("metrics lack the demo's reads:\n%s", text)
	}
	for _, s := range []string{"350121198511160027", "李四", "350102199003077898", "张三"} {
		if strings.Contains(text, s) {
			t.Errorf("personal data %q in the metrics", s)
		}
	}
}

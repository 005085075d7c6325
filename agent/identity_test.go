package agent_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// gateHook is a gate controller's HTTP hook that counts openings.
type gateHook struct {
	srv   *httptest.Server
	opens atomic.Int32
	fail  atomic.Bool
}

func newGateHook(t *testing.T) *gateHook {
	g := &gateHook{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), `"scene":"gate"`) {
			http.Error(w, "bad trigger", http.StatusBadRequest)
			return
		}
		if g.fail.Load() {
			http.Error(w, "jammed", http.StatusInternalServerError)
			return
		}
		g.opens.Add(1)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func gateScene(hook string) string {
	return `  - name: gate
    kind: identity
    readers: ["*"]
    applicationNo: "05"
    label: "02/闸机"
    gate:
      kind: http
      timeout: 2s
      http:
        url: ` + hook + "\n"
}

// insert puts a shipped virtual card into the sim reader (after pulling what is there).
func insert(t testing.TB, r *rig, profile string) {
	t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		t.Fatal(err)
	}
	hub := r.a.Cards().SimHub()
	hub.Remove(readers.SimCardReader)
	if err := hub.Insert(readers.SimCardReader, c); err != nil {
		t.Fatal(err)
	}
}

// TestIdentityCardSim: a valid card opens the gate once and records C.3 成功; a lost
// card is refused (its own prompt), records C.3 失败 and opens nothing; a card the gate
// cannot be opened for is reported, never retried.
func TestIdentityCardSim(t *testing.T) {
	hook := newGateHook(t)
	r := newRig(t, rigOptions{Scenes: gateScene(hook.srv.URL)})
	r.a.Cards().WaitReady(t.Context())

	insert(t, r, "zhangsan")
	read := r.expect("card.read", func(e event.Event) bool { return e.OK })
	if read.Data["idNumber"] != "**************7898" || read.Data["name"] != "*三" {
		t.Errorf("card.read data not masked as expected: %v", read.Data)
	}
	auth := r.expect("auth.succeeded", nil)
	if auth.Prompts.Code != "100100" || auth.Data["medium"] != "card" {
		t.Errorf("auth.succeeded = %+v %v", auth.Prompts, auth.Data)
	}
	rec := r.expect("record.queued", nil)
	r.expect("gate.opened", nil)
	if n := hook.opens.Load(); n != 1 {
		t.Fatalf("gate opened %d times, want 1", n)
	}
	id := rec.Data["recordId"].(string)
	_, c3 := waitLedger(t, r.sb, "the C.3 record", func(got string, _ map[string]string) bool { return got == id })
	want := map[string]string{"$kind": "credential", "credentialType": "实体社会保障卡鉴权", "businessStatus": "成功",
		"socialSecurityNo": "350102199003077898", "name": "张三", "accessNo": "350100000001", "regionCode": "350100",
		"scene": "人力资源和社会保障应用/闸机", "institutionName": "示例市人力资源和社会保障局", "institutionType": "企业",
		"institutionAddress": "示例市示例路1号", "channel": "线下自助终端", "creditCode": "91350100M000100Y43"}
	for k, v := range want {
		if c3[k] != v {
			t.Errorf("C.3 %s = %q, want %q", k, c3[k], v)
		}
	}
	// The card authentication carried the scene's applicationNo, not platform.applicationNo
	// (the backflow's calls, made outside any scene, carry platform.applicationNo).
	apps := r.sb.Ledger().ApplicationNos
	for k, n := range apps {
		if strings.HasPrefix(k, "cardAuth/") && (k != "cardAuth/05" || n != 1) {
			t.Errorf("requests by applicationNo %v, want one cardAuth/05", apps)
		}
	}
	if apps["cardAuth/05"] != 1 {
		t.Errorf("requests by applicationNo %v, want one cardAuth/05", apps)
	}

	// 赵六's card is reported lost: refused by the platform, recorded as 失败.
	seq := r.lastSeq()
	insert(t, r, "zhaoliu")
	rej := r.expect("auth.rejected", after(seq, nil))
	if rej.Data["msgCode"] != "100003" || rej.Prompts.Code != "400103" || rej.OK {
		t.Errorf("lost card: %+v %v", rej.Prompts, rej.Data)
	}
	rec = r.expect("record.queued", after(seq, dataIs("businessStatus", "失败")))
	waitLedger(t, r.sb, "the refused card's C.3", func(got string, m map[string]string) bool {
		return got == rec.Data["recordId"] && m["businessStatus"] == "失败" && m["socialSecurityNo"] == "350203199512304560"
	})
	if _, ok := r.await("gate.opened", after(seq, nil), 300e6); ok || hook.opens.Load() != 1 {
		t.Fatalf("gate opened for a refused card")
	}

	// The platform does not answer for a card: its own event and prompt, recorded 未响应,
	// no gate.
	for _, c := range []struct{ fault, kind, prompt string }{
		{"cardAuth:msgCode:code=900009:count=1", "auth.unavailable", "400002"},
		{"cardAuth:dropAfter:count=1", "auth.unknown", "400003"},
		{"cardAuth:wrongRequestId:count=1", "auth.unverified", "400004"},
	} {
		f, err := platformsim.ParseFault(c.fault)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.sb.AddFaults(f); err != nil {
			t.Fatal(err)
		}
		seq = r.lastSeq()
		insert(t, r, "zhangsan")
		e := r.expect(event.Kind(c.kind), after(seq, nil))
		if e.Prompts.Code != c.prompt {
			t.Errorf("%s: prompt %+v", c.fault, e.Prompts)
		}
		checkHonest(t, c.fault, e)
		r.expect("record.queued", after(seq, dataIs("businessStatus", "未响应")))
	}
	if hook.opens.Load() != 1 {
		t.Fatalf("gate opened %d times without a verified authentication", hook.opens.Load())
	}

	// The gate controller fails: reported with its prompt, one attempt only.
	hook.fail.Store(true)
	seq = r.lastSeq()
	insert(t, r, "lisi")
	fail := r.expect("gate.failed", after(seq, nil))
	if fail.Prompts.Code != "100102" {
		t.Errorf("gate.failed prompt %+v", fail.Prompts)
	}
	if hook.opens.Load() != 1 {
		t.Fatalf("opens = %d", hook.opens.Load())
	}
	if strings.Contains(r.dump(), "350102199003077898") || strings.Contains(r.dump(), "张三") {
		t.Fatal("an event carries personal data in clear")
	}
}

// scannerYAML is a serial scanner on a socat pty.
func scannerYAML(name, port string) string {
	return "  - name: " + name + "\n    kind: serial\n    serial:\n      port: " + port + "\n    limits:\n      dedupWindow: 100ms\n"
}

// goError matches an English word, as Go errors are made of.
var goError = regexp.MustCompile(`[A-Za-z]{3,}`)

// checkHonest: a failed authentication's operator text is the catalogue's Chinese text
// (the Go error is in the log only), and nobody is told the result is being confirmed:
// nothing queries an authentication.
func checkHonest(t *testing.T, what string, e event.Event) {
	t.Helper()
	p := e.Prompts
	if goError.MatchString(p.Operator) || goError.MatchString(p.Holder) {
		t.Errorf("%s: %s carries a Go error: %+v", what, e.Kind, p)
	}
	if strings.Contains(p.Holder+p.Operator, "正在确认") || strings.Contains(p.Holder+p.Operator, "待确认") {
		t.Errorf("%s: %s says the outcome is being confirmed, but nothing queries it: %+v", what, e.Kind, p)
	}
}

// scan writes a code to the scanner's pty as a scanner does (one line).
func scan(p *labtest.Pair, code string) { p.Write([]byte(code + "\r\n")) }

// issue asks the sandbox for a fresh e-card code of a holder.
func issue(t *testing.T, r *rig, idNumber string) string {
	t.Helper()
	code, _, err := r.sb.IssueQR(idNumber)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestIdentityECard: e-card codes from a serial scanner on a real pty. Each class of
// platform outcome has its own event and prompt and opens nothing; a code that is not
// an e-card code is never sent; a successful code opens the gate once and records C.3
// 电子社会保障卡二维码扫码认证. The code itself appears in no event.
func TestIdentityECard(t *testing.T) {
	hook := newGateHook(t)
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("front", pty.Agent),
		Scenes: strings.Replace(gateScene(hook.srv.URL), `readers: ["*"]`, "scanners: [front]", 1)})
	r.expect("scanner.connected", nil)

	code := issue(t, r, "350103197001011235") // 王五
	scan(pty, code)
	auth := r.expect("auth.succeeded", nil)
	if auth.Data["medium"] != "ecard" || auth.Data["idNumber"] != "**************1235" {
		t.Errorf("auth.succeeded data %v", auth.Data)
	}
	rec := r.expect("record.queued", nil)
	r.expect("gate.opened", nil)
	_, c3 := waitLedger(t, r.sb, "the e-card C.3", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	if c3["credentialType"] != "电子社会保障卡二维码扫码认证" || c3["socialSecurityNo"] != "350103197001011235" || c3["name"] != "王五" {
		t.Errorf("C.3 = %v", c3)
	}

	cases := []struct {
		name   string
		fault  string
		reuse  bool
		kind   event.Kind
		prompt string
	}{
		{"used code", "", true, "auth.rejected", "400203"},
		{"HTTP 503 (the platform may have acted)", "ecardDecode:http:status=503:count=1", false, "auth.unknown", "400003"},
		{"platform busy", "ecardDecode:msgCode:code=900008:count=1", false, "auth.unavailable", "400002"},
		{"answer lost", "ecardDecode:dropAfter:count=1", false, "auth.unknown", "400003"},
		{"forged answer", "ecardDecode:badSignature:count=1", false, "auth.unverified", "400004"},
	}
	for _, c := range cases {
		seq := r.lastSeq()
		if c.fault != "" {
			f, err := platformsim.ParseFault(c.fault)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.sb.AddFaults(f); err != nil {
				t.Fatal(err)
			}
		}
		cd := code
		if !c.reuse {
			cd = issue(t, r, "350103197001011235")
		}
		// The scanner's de-duplication window (100ms here) drops a repeated code.
		if c.reuse {
			time.Sleep(150 * time.Millisecond)
		}
		scan(pty, cd)
		e := r.expect(c.kind, after(seq, nil))
		if e.OK || e.Prompts.Code != c.prompt {
			t.Errorf("%s: %s ok=%v prompt %+v", c.name, e.Kind, e.OK, e.Prompts)
		}
		checkHonest(t, c.name, e)
		if _, ok := r.await("record.queued", after(seq, nil), 200*time.Millisecond); ok {
			t.Errorf("%s: a failed e-card authentication was recorded (no identity to record)", c.name)
		}
	}
	if hook.opens.Load() != 1 {
		t.Fatalf("gate opened %d times, want 1", hook.opens.Load())
	}

	seq := r.lastSeq()
	scan(pty, "6901234567892") // a product barcode
	ig := r.expect("scan.ignored", after(seq, nil))
	if ig.Prompts.Code != "100103" || ig.Data["class"] != "unknown" {
		t.Errorf("scan.ignored %+v %v", ig.Prompts, ig.Data)
	}
	if strings.Contains(r.dump(), code) {
		t.Fatal("an event carries an e-card code")
	}
}

// TestIdentityHSM: without a PSAM the card is authenticated by the HSM two-step through
// the platform's card internal-auth service; a slow platform (latency) is waited for.
func TestIdentityHSM(t *testing.T) {
	r := newRig(t, rigOptions{Scenes: gateScene("http://127.0.0.1:1/unused"),
		Cards: "  driver: sim\n  sim:\n    cards: [zhangsan]\n    psam: false\n"})
	if err := r.a.Cards().WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	f, _ := platformsim.ParseFault("cardAuth:latency:delay=150ms:count=1")
	if err := r.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
	insert(t, r, "zhangsan")
	read := r.expect("card.read", func(e event.Event) bool { return e.OK })
	if read.Data["authBy"] != "hsm" || read.Data["authenticated"] != true {
		t.Errorf("card read without a PSAM: %v", read.Data)
	}
	auth := r.expect("auth.succeeded", nil)
	if ms, _ := auth.Data["authMs"].(float64); ms < 150 {
		t.Errorf("the platform's latency does not show: authMs %v", auth.Data["authMs"])
	}
	if n := r.sb.Ledger().Requests["cardInternalAuth"]; n < 1 {
		t.Errorf("cardInternalAuth requests %d", n)
	}
}

// TestQueueFull: at the disk cap new business is refused before anything happens (a
// card is not even read; the holder sees the pause prompt), the local API answers 507,
// nothing queued is lost, and the terminal accepts business again once the backlog has
// flowed back.
func TestQueueFull(t *testing.T) {
	r := newRig(t, rigOptions{Scenes: gateScene("http://127.0.0.1:1/unused") + "  - name: pos\n    kind: payment\n",
		Extra:   "queue:\n  maxMB: 1\n  reservePercent: 50\n  maxRecordKB: 100\n",
		Sandbox: platformsim.Options{Faults: []platformsim.Fault{{Op: "backflow", Kind: platformsim.FaultHTTP, Status: 503}}}})
	big := strings.Repeat("示例市示例区示例路", 56) // 504 characters, 1.5 KB
	posted := 0
	// Large records first, then small ones, until even a small one finds no room.
	for _, text := range []string{big, "示例"} {
		for {
			rec := map[string]any{"accessNo": "350100000001", "businessSerialNo": fmt.Sprint(text[:6], posted),
				"credentialType": "01", "regionCode": "350100", "scene": "02", "institutionName": "示例",
				"institutionAddress": text, "authTime": "2026-01-05 10:00:00", "businessTime": "2026-01-05 10:00:01",
				"businessStatus": text, "channel": text, "coordinateSystem": text, "longitude": "1", "latitude": "1",
				"socialSecurityNo": zhangsan, "name": "张三"}
			code, ans := r.call("POST", "/v1/records", map[string]any{"type": "credential", "record": rec})
			if code == http.StatusInsufficientStorage {
				if !strings.Contains(fmt.Sprint(ans), "100003") {
					t.Errorf("507 without the disk-full prompt: %v", ans)
				}
				break
			}
			if code != http.StatusAccepted {
				t.Fatalf("record %d: %d %v", posted, code, ans)
			}
			posted++
			if posted > 5000 {
				t.Fatal("the queue never filled")
			}
		}
	}
	if code, e := r.call("POST", "/v1/payments", map[string]any{"amount": 1, "subject": "x"}); code != http.StatusInsufficientStorage {
		t.Errorf("payment at the cap: %d %v", code, e)
	}
	r.a.Cards().WaitReady(t.Context())
	seq := r.lastSeq()
	insert(t, r, "zhangsan")
	full := r.expect("queue.full", after(seq, nil))
	if full.Prompts.Code != "610001" || full.Prompts.Holder == "" {
		t.Errorf("queue.full prompts %+v", full.Prompts)
	}
	if r.count("card.read", after(seq, nil)) != 0 {
		t.Error("a card was read although its business could not be recorded")
	}
	r.sb.ClearFaults()
	waitLedger(t, r.sb, "every record", func(string, map[string]string) bool { return len(r.sb.Ledger().Records) == posted })
	r.expect("platform.up", nil)
	// The platform stores a batch before the agent has its answer and deletes the
	// records: only a drained local queue has room again.
	for deadline := time.Now().Add(15 * time.Second); !drained(r.base); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_, q := r.call("GET", "/v1/queue", nil)
			t.Fatalf("the local queue did not drain within 15s: %v", q)
		}
	}
	seq = r.lastSeq()
	insert(t, r, "lisi")
	r.expect("record.queued", after(seq, nil))
}

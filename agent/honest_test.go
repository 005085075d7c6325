package agent_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// longName is a registered holder whose name is longer than C.3 姓名 allows (..50): the
// platform authenticates the e-card, the agent's own Appendix C check refuses the record.
const longNameID = "350102198808080037"

var longName = strings.Repeat("欧阳", 26) // 52 characters

// TestRecordProblemAfterSuccess: platform success plus a record the local check refuses
// opens the gate and tells the holder it succeeded; the record waits in quarantine (not
// uploaded) and record.quarantined names the field and the rule for the operator.
func TestRecordProblemAfterSuccess(t *testing.T) {
	reg := platformsim.DefaultRegistry()
	reg.Persons = append(reg.Persons, platformsim.Person{IDNumber: longNameID, Name: longName,
		ECard: &platformsim.ECard{SignLevel: "2", RegionCode: "350100", Balance: "10.00"}})
	hook := newGateHook(t)
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("front", pty.Agent), Sandbox: platformsim.Options{Registry: reg},
		Scenes: strings.Replace(gateScene(hook.srv.URL), `readers: ["*"]`, "scanners: [front]", 1)})
	r.expect("scanner.connected", nil)

	scan(pty, issue(t, r, longNameID))
	r.expect("auth.succeeded", nil)
	q := r.expect("record.quarantined", nil)
	if q.OK || q.Prompts == nil || q.Prompts.Holder != "业务办理成功" || q.Prompts.Code != "100121" ||
		!strings.Contains(q.Prompts.Operator, "附录C") {
		t.Errorf("alarm %+v prompts %+v", q, q.Prompts)
	}
	fields, _ := q.Data["fields"].([]map[string]string)
	if len(fields) != 1 || fields[0]["field"] != "name" || fields[0]["rule"] != "..50" {
		t.Errorf("alarm fields %v", q.Data["fields"])
	}
	if id, _ := q.Data["recordId"].(string); id == "" {
		t.Errorf("alarm without the record id: %v", q.Data)
	}
	g := r.expect("gate.opened", nil)
	if g.Prompts.Holder != "认证成功，请通行" || hook.opens.Load() != 1 {
		t.Errorf("gate: %+v, %d openings", g.Prompts, hook.opens.Load())
	}
	r.mu.Lock()
	evs := append([]event.Event(nil), r.events...)
	r.mu.Unlock()
	for _, e := range evs {
		if e.Kind == "record.failed" || e.Kind == "record.queued" {
			t.Errorf("unexpected %s", e.Kind)
		}
		if p := e.Prompts; p != nil && strings.Contains(p.Holder+p.Operator, "系统繁忙") {
			t.Errorf("%s tells someone the system is busy: %+v", e.Kind, e.Prompts)
		}
	}
	_, v := r.call("GET", "/v1/queue", nil)
	qs, _ := v["queue"].(map[string]any)
	if qs["quarantined"] != float64(1) {
		t.Errorf("queue %v", v["queue"])
	}
	if n := len(r.sb.Ledger().Records); n != 0 {
		t.Errorf("the refused record reached the platform: %d records", n)
	}
}

// TestCauseInLogOnly: the Go error behind a failed authentication is in the log (masked,
// with the event kind and the prompt code), not in the operator's or holder's text; the
// unknown outcome of an e-card decode does not claim to be confirming anything.
func TestCauseInLogOnly(t *testing.T) {
	var logs labtest.Output
	hook := newGateHook(t)
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Log: &logs, Scanners: scannerYAML("front", pty.Agent),
		Scenes: strings.Replace(gateScene(hook.srv.URL), `readers: ["*"]`, "scanners: [front]", 1)})
	r.expect("scanner.connected", nil)
	f, err := platformsim.ParseFault("ecardDecode:dropAfter:count=1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.sb.AddFaults(f); err != nil {
		t.Fatal(err)
	}
	scan(pty, issue(t, r, "350103197001011235"))
	e := r.expect("auth.unknown", nil)
	checkHonest(t, "answer lost", e)
	if e.Prompts.Holder != "未收到办理结果，请重新办理或联系工作人员" {
		t.Errorf("holder reads %q", e.Prompts.Holder)
	}
	logs.WaitFor(t, "event cause")
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "event cause") && strings.Contains(l, "event=auth.unknown") {
			line = l
		}
	}
	if !strings.Contains(line, "code=[400003]") || !strings.Contains(line, "ecardDecode") || !strings.Contains(line, "source=gate/front") {
		t.Errorf("log line %q", line)
	}
}

// TestPaymentRecordProblem: a payment the platform took whose C.4 record fails the
// local check (the payer's name from the platform is longer than 付款人姓名 allows) is
// paid and marked recorded, the record waits in quarantine, and both the alarm and
// payment.recorded say so (100121), not that the record flows back.
func TestPaymentRecordProblem(t *testing.T) {
	reg := platformsim.DefaultRegistry()
	reg.Persons = append(reg.Persons, platformsim.Person{IDNumber: longNameID, Name: longName,
		ECard: &platformsim.ECard{SignLevel: "2", RegionCode: "350100", Balance: "10.00"}})
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("front", pty.Agent), Scenes: paymentScenes(""),
		Sandbox: platformsim.Options{Registry: reg}})
	r.expect("scanner.connected", nil)
	code, o := r.call("POST", "/v1/payments", map[string]any{"amount": 100, "subject": "挂号费", "scene": "pos"})
	if code != http.StatusAccepted {
		t.Fatalf("create: %d %v", code, o)
	}
	no := o["id"].(string)
	scan(pty, issue(t, r, longNameID))
	r.order("payment.succeeded", no)
	q := r.expect("record.quarantined", dataIs("orderNo", no))
	fields, _ := q.Data["fields"].([]map[string]string)
	if len(fields) != 1 || fields[0]["field"] != "payerName" || fields[0]["rule"] != "..50" {
		t.Errorf("alarm fields %v", q.Data["fields"])
	}
	rec := r.order("payment.recorded", no)
	if rec.Prompts.Code != "100121" || rec.Data["recordId"] != q.Data["recordId"] {
		t.Errorf("payment.recorded %+v %v", rec.Prompts, rec.Data)
	}
	_, v := r.call("GET", "/v1/queue", nil)
	qs, _ := v["queue"].(map[string]any)
	if qs["quarantined"] != float64(1) {
		t.Errorf("queue %v", v["queue"])
	}
	if lp := ledgerPayment(r, no); lp.State != "SUCCESS" {
		t.Errorf("ledger: %+v", lp)
	}
}

// TestRecordTimesPlatformClock: with the terminal's clock 90 s behind the platform's, the
// C.3 record's 认证时间 and 业务办理时间 are the platform's time (the offset the client
// learned from the signed answer), and record.queued notes the correction.
func TestRecordTimesPlatformClock(t *testing.T) {
	const skew = 90 * time.Second
	hook := newGateHook(t)
	pty := labtest.NewPair(t)
	r := newRig(t, rigOptions{Scanners: scannerYAML("front", pty.Agent),
		Scenes: strings.Replace(gateScene(hook.srv.URL), `readers: ["*"]`, "scanners: [front]", 1)})
	r.expect("scanner.connected", nil)
	r.sb.SetClockOffset(skew)
	before := time.Now()
	scan(pty, issue(t, r, "350103197001011235"))
	rec := r.expect("record.queued", nil)
	after := time.Now()
	if off, _ := rec.Data["clockOffsetSeconds"].(float64); off < 85 || off > 95 {
		t.Errorf("record.queued does not note the 90 s correction: %v", rec.Data)
	}
	_, c3 := waitLedger(t, r.sb, "the C.3 record", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	for _, f := range []string{"authTime", "businessTime"} {
		got, err := records.ParseDateTime(c3[f])
		if err != nil {
			t.Fatalf("%s %q: %v", f, c3[f], err)
		}
		// Whole seconds: the platform's time is within [before, after] + 90 s ± 5 s.
		if got.Before(before.Add(skew-5*time.Second)) || got.After(after.Add(skew+5*time.Second)) {
			t.Errorf("%s = %s, want the platform's time (local %s + 90s)", f, got, before.Format(time.TimeOnly))
		}
	}
}

//go:build cgo && linux

package agent_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// testPIN is the holder's PIN in this test: it must appear in no log, event, record
// or file of the agent.
const testPIN = "80461973"

// TestMedicalPCSC is 7.2.5 c on the real PC/SC stack (pcscd + vpcd, the virtual card
// and PSAM): a wrong PIN, a settlement with the PSAM and its C.4 record at the sandbox,
// a retry that does not debit again, a card pulled after DEBIT and recovered on its
// next insertion (one debit), then, with the PSAM out, the HSM variant and the
// sandbox's faults during it: each ends with one debit or none and a record that says
// which. The PIN appears in no log, event, record or state file.
func TestMedicalPCSC(t *testing.T) {
	d := labtest.SharedPCSCD(t, "Holder", "PSAM")
	logs := &labtest.Output{}
	r := newRig(t, rigOptions{Log: logs, Scenes: "  - name: pharmacy\n    kind: medical\n    readers: [\"Holder*\"]\n", Cards: `  driver: pcsc
  readers:
    holder: ["Holder*"]
    psam: ["PSAM*"]
  hsm:
    enabled: true
`})
	p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000001"})
	if err != nil {
		t.Fatal(err)
	}
	ps := cardsim.Insert(d.Addr("PSAM", 0), p, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = ps.Remove(); labtest.WaitEmpty(t, labtest.Reader("PSAM", 0)) })
	r.expect("psam.ready", nil)

	prof, err := cardsim.Shipped("zhangsan")
	if err != nil {
		t.Fatal(err)
	}
	prof.Medical.PIN = testPIN
	c, err := cardsim.NewCard(prof)
	if err != nil {
		t.Fatal(err)
	}
	in := cardsim.Insert(d.Addr("Holder", 0), c, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = in.Remove() })
	r.expect("auth.succeeded", nil)

	settle := func(id, pin string) map[string]any {
		t.Helper()
		code, ans := r.call("POST", "/v1/medical/settle", map[string]any{"settlementId": id, "accountPay": 3650,
			"selfPay": 1200, "fundPay": 8800, "pin": pin})
		if code != 200 {
			t.Fatalf("settle %s: %d %v", id, code, ans)
		}
		return ans
	}
	holder := func(ans map[string]any) string {
		p, _ := ans["prompts"].(map[string]any)
		return fmt.Sprint(p["holder"])
	}
	record := func(id string) map[string]string {
		t.Helper()
		_, rec := waitLedger(t, r.sb, "the C.4 record of "+id, func(_ string, rec map[string]string) bool {
			return rec["$kind"] == "payment" && rec["businessSerialNo"] == id
		})
		return rec
	}

	// A wrong PIN: the tries left, nothing begun.
	ans := settle("S-PIN", "00000000")
	if ans["state"] != "not-debited" || ans["code"] != float64(-51) || holder(ans) != "密码错误，还可输入2次" {
		t.Fatalf("wrong PIN: %v", ans)
	}

	// The settlement with the PSAM.
	ans = settle("S-1", testPIN)
	if ans["state"] != "debited" || ans["verified"] != true || ans["authBy"] != "psam" || ans["tac"] == "" ||
		ans["balance"] != float64(100000-3650) {
		t.Fatalf("settlement: %v", ans)
	}
	rec := record("S-1")
	if rec["amount"] != "136.50" || rec["settlementMethod"] != "实体社会保障卡刷卡结算" || rec["cardType"] != "实体社会保障卡" ||
		!strings.Contains(rec["orderDescription"], "TAC "+ans["tac"].(string)) || !strings.Contains(rec["orderDescription"], "已扣款") ||
		rec["payerSocialSecurityNo"] != zhangsan {
		t.Fatalf("C.4 %v", rec)
	}
	if again := settle("S-1", testPIN); again["state"] != "debited" || again["tac"] != ans["tac"] || c.Debits() != 1 {
		t.Fatalf("retry: %v, %d debits", again, c.Debits())
	}

	// Pulled after DEBIT: pending, then recovered on the next insertion.
	c.PullAfter(cardsim.IsDebit)
	if ans = settle("S-2", testPIN); ans["state"] != "pending" {
		t.Fatalf("pulled: %v", ans)
	}
	pulled := r.lastSeq()
	<-in.Done()
	// This card's removal, not an earlier one: inserting again before the agent saw the
	// card go would leave it nothing to recover on.
	r.expect("card.removed", after(pulled, func(e event.Event) bool { return e.Source == labtest.Reader("Holder", 0) }))
	seq := r.lastSeq()
	in = cardsim.Insert(d.Addr("Holder", 0), c, cardsim.ServeOptions{})
	ev := r.expect("medical.debited", after(seq, nil))
	if ev.Data["settlementId"] != "S-2" || ev.Data["recovered"] != true {
		t.Fatalf("recovery: %v", ev.Data)
	}
	if again := settle("S-2", testPIN); again["state"] != "debited" || again["recovered"] != true || c.Debits() != 2 {
		t.Fatalf("after recovery: %v, %d debits", again, c.Debits())
	}
	if rec := record("S-2"); !strings.Contains(rec["orderDescription"], "拔卡后重新插卡") || rec["amount"] != "136.50" {
		t.Fatalf("C.4 of the recovered settlement %v", rec)
	}

	// The HSM variant, the PSAM out.
	_ = ps.Remove()
	r.expect("psam.removed", nil)
	if ans = settle("S-3", testPIN); ans["state"] != "debited" || ans["authBy"] != "hsm" || ans["verified"] != true {
		t.Fatalf("HSM settlement: %v", ans)
	}
	if r.sb.VerifiedPurchases() != 1 || c.Debits() != 3 {
		t.Fatalf("sandbox verified %d, %d debits", r.sb.VerifiedPurchases(), c.Debits())
	}
	// The platform computes MAC1 and the answer is lost: nothing is debited.
	if err := r.sb.AddFaults(platformsim.Fault{Op: "medicalPurchaseAuth", Kind: platformsim.FaultDropAfter, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if ans = settle("S-4", testPIN); ans["state"] != "not-debited" || c.Debits() != 3 {
		t.Fatalf("MAC1 lost: %v, %d debits", ans, c.Debits())
	}
	if rec := record("S-4"); rec["amount"] != "0.00" || !strings.Contains(rec["orderDescription"], "未扣款") {
		t.Fatalf("C.4 of S-4 %v", rec)
	}
	// The verification answers 999999: the card was debited, once, unverified.
	if err := r.sb.AddFaults(platformsim.Fault{Op: "medicalPurchaseVerify", Kind: platformsim.FaultMsgCode, MsgCode: "999999", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if ans = settle("S-5", testPIN); ans["state"] != "debited" || ans["verified"] != false || c.Debits() != 4 {
		t.Fatalf("verification 999999: %v, %d debits", ans, c.Debits())
	}
	if rec := record("S-5"); rec["amount"] != "136.50" || !strings.Contains(rec["orderDescription"], "MAC2/TAC未验证") {
		t.Fatalf("C.4 of S-5 %v", rec)
	}

	// The PIN nowhere.
	var files []string
	_ = filepath.Walk(r.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(testPIN)) {
				files = append(files, p)
			}
		}
		return nil
	})
	for _, where := range []struct{ name, text string }{{"logs", logs.String()}, {"events", r.dump()}, {"records", fmt.Sprint(ledgerRecords(t, r.sb))}} {
		if strings.Contains(where.text, testPIN) {
			t.Errorf("the PIN is in the %s", where.name)
		}
	}
	if len(files) > 0 || !strings.Contains(logs.String(), "level=") {
		t.Errorf("the PIN is in %v (or no logs were captured)", files)
	}
}

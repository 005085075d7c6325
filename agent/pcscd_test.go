//go:build cgo && linux

package agent_test

import (
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
)

func stopPCSCD() { labtest.StopSharedPCSCD() }

// TestIdentityPCSC is the identity scene on the real PC/SC stack: a private pcscd with
// the vpcd driver, the sandbox's virtual PSAM in the PSAM slot and virtual cards in the
// holder slot, read by the agent through libpcsclite. A gen-3 card is authenticated by
// the PSAM (external authentication for EF06), the platform authenticates it, the C.3
// record reaches the platform and the gate opens once; a lost card is refused.
func TestIdentityPCSC(t *testing.T) {
	d := labtest.SharedPCSCD(t, "Holder", "PSAM")
	hook := newGateHook(t)
	// Two scenes on two readers: slot 0 is the gate's (the first scene matching it);
	// the kiosk takes every other holder reader.
	scenes := strings.Replace(gateScene(hook.srv.URL), `readers: ["*"]`, `readers: ["Holder 00 00"]`, 1) +
		"  - name: kiosk\n    kind: kiosk\n    readers: [\"Holder*\"]\n"
	r := newRig(t, rigOptions{Scenes: scenes, Cards: `  driver: pcsc
  readers:
    holder: ["Holder*"]
    psam: ["PSAM*"]
`})
	p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000009"})
	if err != nil {
		t.Fatal(err)
	}
	ps := cardsim.Insert(d.Addr("PSAM", 0), p, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = ps.Remove(); labtest.WaitEmpty(t, labtest.Reader("PSAM", 0)) })
	r.expect("psam.ready", nil)

	putIn := func(slot int, profile string) func() {
		t.Helper()
		c, err := cardsim.LoadCard(profile)
		if err != nil {
			t.Fatal(err)
		}
		in := cardsim.Insert(d.Addr("Holder", slot), c, cardsim.ServeOptions{})
		return func() { _ = in.Remove(); <-in.Done() }
	}
	put := func(profile string) func() { return putIn(0, profile) }
	pull := put("zhangsan")
	read := r.expect("card.read", func(e event.Event) bool { return e.OK })
	if read.Source != labtest.Reader("Holder", 0) || read.Data["authBy"] != "psam" || read.Data["version"] != "3.00" {
		t.Errorf("card.read %s %v", read.Source, read.Data)
	}
	rec := r.expect("record.queued", nil)
	r.expect("gate.opened", nil)
	_, c3 := waitLedger(t, r.sb, "the C.3 record", func(id string, _ map[string]string) bool { return id == rec.Data["recordId"] })
	if c3["socialSecurityNo"] != zhangsan || c3["credentialType"] != "实体社会保障卡鉴权" || c3["businessStatus"] != "成功" {
		t.Errorf("C.3 %v", c3)
	}
	pull()
	r.expect("card.removed", nil)

	seq := r.lastSeq()
	pull = put("zhaoliu")
	defer pull()
	if e := r.expect("auth.rejected", after(seq, nil)); e.Data["msgCode"] != "100003" {
		t.Errorf("lost card: %v", e.Data)
	}
	r.expect("record.queued", after(seq, dataIs("businessStatus", "失败")))
	if hook.opens.Load() != 1 {
		t.Fatalf("gate opened %d times", hook.opens.Load())
	}

	// A card in the other reader belongs to the kiosk: handed over, no gate, no record.
	seq = r.lastSeq()
	pull2 := putIn(1, "lisi")
	defer pull2()
	k := r.expect("auth.succeeded", after(seq, nil))
	if k.Scene != "kiosk" || k.Source != labtest.Reader("Holder", 1) || k.Data["readId"] == nil {
		t.Errorf("card in slot 1: scene %s source %s %v", k.Scene, k.Source, k.Data)
	}
	if hook.opens.Load() != 1 || r.count("record.queued", after(seq, nil)) != 0 {
		t.Error("the kiosk's card opened the gate or was recorded")
	}
}

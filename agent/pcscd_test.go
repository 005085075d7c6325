//go:build cgo && linux

package agent_test

import (
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/event"
	"github.com/sscagent/sscagent/labtest"
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
	r := newRig(t, rigOptions{Scenes: gateScene(hook.srv.URL), Cards: `  driver: pcsc
  readers:
    holder: ["Holder*"]
    psam: ["PSAM*"]
`})
	p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000009"})
	if err != nil {
		t.Fatal(err)
	}
	ps := cardsim.Insert(d.Addr("PSAM", 0), p, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = ps.Remove() })
	r.expect("psam.ready", nil)

	put := func(profile string) func() {
		t.Helper()
		c, err := cardsim.LoadCard(profile)
		if err != nil {
			t.Fatal(err)
		}
		in := cardsim.Insert(d.Addr("Holder", 0), c, cardsim.ServeOptions{})
		return func() { _ = in.Remove(); <-in.Done() }
	}
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
	if hook.opens.Load() != 1 {
		t.Fatalf("gate opened %d times", hook.opens.Load())
	}
}

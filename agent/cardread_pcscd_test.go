//go:build cgo && linux

package agent_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers/pcsc"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
)

// The national 11-field strings of the shared test cards (docs/card.md): 李四 read with
// the PSAM of terminal 350100000001, 张三 through the HSM two-step (no PSAM).
const (
	lisiLine     = "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|00544553545353350120000002|2.00|20180310|20280310|350100000001||"
	zhangsanLine = "350100|350102199003077898|D10000017|350100D156000005300000015A3C9E11|张三|00544553545353350130000001|3.00|20230601|20330601|000000000000||"
)

// libRig is an agent with a reader scene on the holder slots of a private pcscd, the
// sandbox PSAM of terminal 350100000001 in the PSAM slot when psam is set, for the
// reader library.
type libRig struct {
	*rig
	t testing.TB
	d *labtest.PCSCD
}

func newLibRig(t testing.TB, withPSAM bool) *libRig {
	t.Helper()
	d := labtest.SharedPCSCD(t, "Holder", "PSAM")
	r := newRig(t, rigOptions{Scenes: "  - name: counter\n    kind: reader\n    readers: [\"Holder*\"]\n", Cards: `  driver: pcsc
  readers:
    holder: ["Holder*"]
    psam: ["PSAM*"]
`})
	lr := &libRig{rig: r, t: t, d: d}
	if withPSAM {
		p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000001"})
		if err != nil {
			t.Fatal(err)
		}
		ps := cardsim.Insert(d.Addr("PSAM", 0), p, cardsim.ServeOptions{})
		t.Cleanup(func() { _ = ps.Remove(); <-ps.Done(); labtest.WaitEmpty(t, labtest.Reader("PSAM", 0)) })
		r.expect("psam.ready", nil)
	}
	return lr
}

// put serves profile in holder slot 0 and waits until the agent sees it; the returned
// function pulls it out and waits until the agent saw that.
func (l *libRig) put(profile string) func() {
	l.t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		l.t.Fatal(err)
	}
	reader := labtest.Reader("Holder", 0)
	seq := l.lastSeq()
	in := cardsim.Insert(l.d.Addr("Holder", 0), c, cardsim.ServeOptions{})
	l.expect("card.inserted", after(seq, func(e event.Event) bool { return e.Source == reader }))
	return func() {
		seq := l.lastSeq()
		_ = in.Remove()
		<-in.Done()
		l.expect("card.removed", after(seq, func(e event.Event) bool { return e.Source == reader }))
	}
}

// read posts a library read and returns the national code and the answer.
func (l *libRig) read(path string, body any) (int, map[string]any) {
	l.t.Helper()
	st, out := l.call(http.MethodPost, path, body)
	if st != http.StatusOK {
		l.t.Fatalf("POST %s: %d %v", path, st, out)
	}
	c, _ := out["code"].(float64)
	return int(c), out
}

// TestCardReadPCSC: the reader library's endpoints over the real PC/SC stack: a read in
// contact and auto modes gives the exact 11-field string, with a masked card.read event;
// no card, a wrong card, a reader held by another program and a mode without readers
// give the national codes; the HSM two-step carries the card from Step 1 to Step 2.
func TestCardReadPCSC(t *testing.T) {
	l := newLibRig(t, true)
	if code, out := l.read("/v1/card/read", map[string]any{"iType": 1}); code != -2 || out["meaning"] != "无卡" {
		t.Fatalf("no card: %d %v", code, out)
	}
	if st, _ := l.call(http.MethodPost, "/v1/card/read", map[string]any{"iType": 5}); st != http.StatusUnprocessableEntity {
		t.Errorf("iType 5: %d", st)
	}
	if st := callAPIToken(t, l.base, "/v1/card/read", "wrong"); st != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", st)
	}

	pull := l.put("lisi")
	for _, it := range []int{1, 3, 4} {
		seq := l.lastSeq()
		code, out := l.read("/v1/card/read", map[string]any{"iType": it})
		if code != 0 || out["iReadCardBas"] != lisiLine || out["reader"] != labtest.Reader("Holder", 0) {
			t.Fatalf("iType %d: %d %v", it, code, out)
		}
		e := l.expect("card.read", after(seq, nil))
		if !e.OK || e.Scene != "counter" || e.Data["via"] != "localapi" || e.Data["idNumber"] == "350121198511160027" ||
			!strings.HasSuffix(e.Data["idNumber"].(string), "0027") {
			t.Errorf("card.read event: %v %v", e.OK, e.Data)
		}
	}
	if code, _ := l.read("/v1/card/read", map[string]any{"iType": 2}); code != -11 {
		t.Errorf("contactless without a contactless reader: %d", code)
	}
	if code, _ := l.read("/v1/card/read", map[string]any{"iType": 1, "reader": "PSAM 00 00"}); code != -11 {
		t.Errorf("the PSAM slot named: %d", code)
	}

	// Another program holds the card exclusively.
	sys, err := pcsc.Open(pcsc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	held, err := sys.Connect(context.Background(), labtest.Reader("Holder", 0), true)
	if err != nil {
		t.Fatal(err)
	}
	code, out := l.read("/v1/card/read", map[string]any{"iType": 1})
	held.Close(false)
	if p, _ := out["prompts"].(map[string]any); code != -11 || p == nil || p["code"] != "250009" {
		t.Errorf("busy reader: %d %v", code, out)
	}
	pull()

	pull = l.put("bankcard")
	if code, out := l.read("/v1/card/read", map[string]any{"iType": 3}); code != -1 {
		t.Errorf("bank card: %d %v", code, out)
	}
	pull()

	pull = l.put("zhangsan")
	defer pull()
	hsmTwoStep(t, l)
}

// hsmTwoStep runs iReadCardBas_HSM_Step1/Step2 on 张三 with the sandbox HSM's answer,
// then a session used twice and a forged answer.
func hsmTwoStep(t *testing.T, l *libRig) {
	code, out := l.read("/v1/card/hsm/step1", map[string]any{"iType": 1})
	step1, _ := out["step1"].(string)
	if code != 0 || !strings.HasPrefix(step1, "350100|00544553545353350130000001|03|350100D156000005300000015A3C9E11|") {
		t.Fatalf("step 1: %d %v", code, out)
	}
	pKey, err := cardsim.HSM{}.InternalAuth(step1)
	if err != nil {
		t.Fatal(err)
	}
	session := out["session"]
	code, out = l.read("/v1/card/hsm/step2", map[string]any{"session": session, "pKey": pKey})
	if code != 0 || out["iReadCardBas"] != zhangsanLine {
		t.Fatalf("step 2: %d %v", code, out)
	}
	if code, _ = l.read("/v1/card/hsm/step2", map[string]any{"session": session, "pKey": pKey}); code != -12 {
		t.Errorf("step 2 again: %d", code)
	}
	// A Step 1 without its Step 2: the next read abandons it (at once, not after
	// cards.readTimeout) and its session is gone.
	_, out = l.read("/v1/card/hsm/step1", map[string]any{"iType": 1})
	if code, _ = l.read("/v1/card/read", map[string]any{"iType": 1}); code != 0 {
		t.Errorf("read after an abandoned step 1: %d", code)
	}
	if code, _ = l.read("/v1/card/hsm/step2", map[string]any{"session": out["session"], "pKey": pKey}); code != -12 {
		t.Errorf("step 2 of an abandoned step 1: %d", code)
	}
	// A forged internal-auth answer: the card's answer differs, -21.
	_, out = l.read("/v1/card/hsm/step1", map[string]any{"iType": 3})
	if pKey, err = (cardsim.HSM{}).InternalAuth(out["step1"].(string)); err != nil {
		t.Fatal(err)
	}
	forged := "0000000000000000" + pKey[16:]
	if code, out = l.read("/v1/card/hsm/step2", map[string]any{"session": out["session"], "pKey": forged}); code != -21 {
		t.Errorf("forged pKey: %d %v", code, out)
	}
}

// callAPIToken posts an empty read with the given token and returns the status.
func callAPIToken(t testing.TB, base, path, token string) int {
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(`{"iType":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

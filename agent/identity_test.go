package agent_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/event"
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
    label: "02/闸机"
    gate:
      kind: http
      timeout: 2s
      http:
        url: ` + hook + "\n"
}

// insert puts a shipped virtual card into the sim reader (after pulling what is there).
func insert(t *testing.T, r *rig, profile string) {
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

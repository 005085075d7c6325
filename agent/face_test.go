package agent_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
)

const zhangsanName = "张三"

// TestFaceAndLogin: a card read in a kiosk scene, its holder's face verified (pass, and
// fail with another image), a non-JPEG refused at the door; a QR login approved from
// the sandbox's phone while the kiosk long-polls, one refused; each answer's C.3 record
// (03, 05) validates at the sandbox. No image, login ticket or clear ID number in the
// logs or events.
func TestFaceAndLogin(t *testing.T) {
	logs := &labtest.Output{}
	r := newRig(t, rigOptions{Log: logs, Scenes: "  - name: kiosk\n    kind: kiosk\n    readers: [\"*\"]\n"})
	r.a.Cards().WaitReady(t.Context())
	insert(t, r, "zhangsan")
	auth := r.expect("auth.succeeded", nil)
	readID := fmt.Sprint(auth.Data["readId"])
	img, _ := platformsim.Portrait(zhangsan)
	other, _ := platformsim.Portrait("350121198511160027")

	code, v := r.call("POST", "/v1/face", map[string]any{"readId": readID, "image": img})
	if code != http.StatusOK || v["result"] != "pass" || v["score"] != platformsim.FaceScoreMatch || v["recordId"] == "" {
		t.Fatalf("face of the registered portrait: %d %v", code, v)
	}
	_, c3 := waitLedger(t, r.sb, "the face C.3", func(_ string, rec map[string]string) bool {
		return rec["credentialType"] == "电子社会保障卡人脸识别认证" && rec["businessStatus"] == "成功"
	})
	if c3["socialSecurityNo"] != zhangsan || c3["name"] != zhangsanName {
		t.Fatalf("face C.3 %v", c3)
	}
	code, v = r.call("POST", "/v1/face", map[string]any{"readId": readID, "image": other})
	if code != http.StatusOK || v["result"] != "fail" || v["recordId"] == "" {
		t.Fatalf("face of another image: %d %v", code, v)
	}
	waitLedger(t, r.sb, "the failed face C.3", func(_ string, rec map[string]string) bool {
		return rec["credentialType"] == "电子社会保障卡人脸识别认证" && rec["businessStatus"] == "失败"
	})
	for name, body := range map[string]map[string]any{
		"png":       {"readId": readID, "image": []byte("\x89PNG\r\n\x1a\nxxxxxxxx")},
		"truncated": {"readId": readID, "image": img[:len(img)-4]},
		"no read":   {"image": img},
	} {
		if code, e := r.call("POST", "/v1/face", body); code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %v", name, code, e)
		}
	}
	if code, _ := r.call("POST", "/v1/face", map[string]any{"readId": "0123456789abcdef01234567", "image": img}); code != http.StatusNotFound {
		t.Errorf("an unknown read: %d", code)
	}
	big := append(append([]byte{}, img[:len(img)-2]...), make([]byte, 600<<10)...)
	if code, _ := r.call("POST", "/v1/face", map[string]any{"readId": readID, "image": append(big, 0xFF, 0xD9)}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 600 KiB image: %d", code)
	}

	// QR login, approved while the kiosk waits.
	code, lv := r.call("POST", "/v1/login", map[string]any{})
	ticket, _ := lv["code"].(string)
	if code != http.StatusCreated || lv["state"] != "waiting" || ticket == "" || lv["expireTime"] == nil {
		t.Fatalf("POST /v1/login: %d %v", code, lv)
	}
	id := fmt.Sprint(lv["loginId"])
	if code, w := r.call("GET", "/v1/login/"+id, nil); code != http.StatusOK || w["state"] != "waiting" || w["code"] != nil {
		t.Fatalf("GET before approval: %d %v", code, w)
	}
	done := make(chan map[string]any, 1)
	go func() {
		_, w := r.call("GET", "/v1/login/"+id+"?wait=30s", nil)
		done <- w
	}()
	if _, err := r.sb.ApproveLogin(ticket, zhangsan, false); err != nil {
		t.Fatal(err)
	}
	w := <-done
	holder, _ := w["holder"].(map[string]any)
	if w["state"] != "authorised" || holder["idNumber"] != zhangsan || holder["idType"] != "01" || holder["name"] != zhangsanName || w["recordId"] == "" {
		t.Fatalf("the login after approval: %v", w)
	}
	_, c3 = waitLedger(t, r.sb, "the login C.3", func(_ string, rec map[string]string) bool {
		return rec["credentialType"] == "电子社会保障卡扫码登录"
	})
	if c3["socialSecurityNo"] != zhangsan || c3["businessStatus"] != "成功" {
		t.Fatalf("login C.3 %v", c3)
	}
	r.expect("login.ended", func(e event.Event) bool { return e.OK && e.Data["idNumber"] != zhangsan })

	// 信息授权登录, declined on the phone.
	_, lv = r.call("POST", "/v1/login", map[string]any{"type": "04"})
	if _, err := r.sb.ApproveLogin(fmt.Sprint(lv["code"]), "", true); err != nil {
		t.Fatal(err)
	}
	if _, w := r.call("GET", fmt.Sprintf("/v1/login/%s?wait=30s", lv["loginId"]), nil); w["state"] != "refused" || w["holder"] != nil {
		t.Fatalf("a refused login: %v", w)
	}
	if code, _ := r.call("GET", "/v1/login/L0?wait=1m5s", nil); code != http.StatusUnprocessableEntity {
		t.Errorf("a wait above 60s: %d", code)
	}
	if code, _ := r.call("GET", "/v1/login/Lunknown", nil); code != http.StatusNotFound {
		t.Errorf("an unknown login: %d", code)
	}

	secrets := []string{ticket, base64.StdEncoding.EncodeToString(img)[:40], base64.StdEncoding.EncodeToString(other)[:40], zhangsan, zhangsanName}
	seen := logs.String() + r.dump()
	for _, s := range secrets {
		if strings.Contains(seen, s) {
			t.Errorf("%q in the logs or events", s)
		}
	}
}

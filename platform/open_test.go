package platform

import (
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// newOfflineClient returns a client with fresh keys that is never used for the network.
func newOfflineClient(t testing.TB) (*Client, *protocol.PrivateKey) {
	t.Helper()
	platformKey, _ := protocol.GenerateKey()
	channelKey, _ := protocol.GenerateKey()
	sm4Key, _ := protocol.NewSM4Key()
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.ChannelNo = "https://127.0.0.1:8443", "350100000001"
	cfg.PrivateKey, cfg.PlatformPublicKey, cfg.SM4Key = "unused", "unused", "unused"
	c, err := NewWithKeys(cfg, Keys{Channel: channelKey, Platform: platformKey.Public(), SM4: sm4Key}, Options{TerminalID: "T"})
	if err != nil {
		t.Fatal(err)
	}
	return c, platformKey
}

// FuzzOpen feeds arbitrary answers to the client's verification: nothing is ever a
// success unless it is an envelope the platform's key signed, echoing our requestId,
// with msgCode 000000.
func FuzzOpen(f *testing.F) {
	c, platformKey := newOfflineClient(f)
	const id = "0123456789abcdef0123456789abcdef"
	for _, code := range []string{protocol.CodeOK, protocol.CodeBusy, protocol.CodeStaleTimestamp, "123456"} {
		resp := &protocol.Response{MsgCode: code, Msg: "m", Result: `{"cardStatus":"normal"}`, RequestID: id, Timestamp: protocol.FormatTime(time.Now())}
		_ = (protocol.Scheme{}).SignResponse(platformKey, resp)
		b, _ := protocol.Marshal(resp)
		f.Add(b, 200)
	}
	f.Add([]byte(`{"msgCode":"000000"}`), 200)
	f.Add([]byte(`<html>bad gateway</html>`), 502)
	rt := c.routes[protocol.OpCardAuth]
	f.Fuzz(func(t *testing.T, body []byte, status int) {
		status = 100 + (status%500+500)%500
		rep, _, err := c.open(rt, &protocol.Request{RequestID: id}, answer{status: status, body: body, mid: time.Now(), rtt: time.Millisecond})
		if err == nil {
			resp, fields, perr := protocol.ParseResponse(body)
			if perr != nil || resp.MsgCode != protocol.CodeOK || resp.RequestID != id ||
				(protocol.Scheme{}).VerifyFields(platformKey.Public(), fields) != nil || rep == nil {
				t.Fatalf("an answer that is not a signed success was taken for one: %q", body)
			}
			return
		}
		if ClassOf(err) == ClassSuccess {
			t.Fatal("error with class success")
		}
		if PromptFor(err) == 0 {
			t.Fatal("error without a prompt")
		}
	})
}

func TestPromptsComplete(t *testing.T) {
	for _, m := range protocol.MsgCodeTable() {
		if m.Code == protocol.CodeOK {
			continue
		}
		code := PromptFor(&Error{Op: "x", Class: ClassRejected, MsgCode: m.Code})
		if code == CodeRejected {
			t.Errorf("msgCode %s has no prompt of its own", m.Code)
		}
	}
	for _, m := range prompt.Catalogue() {
		if m.Code < 400000 || m.Code > 499999 {
			continue
		}
		for _, tx := range []prompt.Text{m.Holder, m.Operator, m.Maintainer} {
			if tx.ZH == "" || tx.EN == "" {
				t.Errorf("%d lacks a text", m.Code)
			}
		}
	}
	for _, cl := range []Class{ClassRetryable, ClassUnknown, ClassUnverified, ClassRejected} {
		if PromptFor(&Error{Class: cl}) == 0 {
			t.Errorf("class %s has no prompt", cl)
		}
	}
}

package platform

import (
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

// BenchmarkClientCost measures what the client adds to a call besides the network: on
// the way out, completing and SM4-encrypting the data (ID number and name) and signing
// the envelope; on the way back, parsing, verifying the platform's signature, checking
// echo and window, and decrypting the result. The answer is pre-signed by a platform
// key outside the timed loop.
func BenchmarkClientCost(b *testing.B) {
	platformKey := protocol.TestKey(protocol.TestPlatformLabel)
	cfg := DefaultConfig()
	cfg.BaseURL, cfg.ChannelNo = "https://127.0.0.1:8443", "350100000001"
	cfg.PrivateKey, cfg.PlatformPublicKey, cfg.SM4Key = "unused", "unused", "unused"
	channelKey, _ := protocol.GenerateKey()
	sm4Key, _ := protocol.NewSM4Key()
	c, err := NewWithKeys(cfg, Keys{Channel: channelKey, Platform: platformKey.Public(), SM4: sm4Key},
		Options{TerminalID: "SSC-BENCH-0001", AllowTestKeys: true})
	if err != nil {
		b.Fatal(err)
	}
	var data protocol.Data
	for k, v := range map[string]string{"idNumber": "350102199003077898", "name": "张三", "cardNo": "D10000017",
		"cardId": "350100D156000005300000016A5F3C21", "regionCode": "350100", "cardVersion": "3.00", "authMode": "psam"} {
		data.Set(k, v)
	}
	// The platform's answer to a request with a fixed id.
	const id = "0123456789abcdef0123456789abcdef"
	var result protocol.Data
	result.Set("cardStatus", "normal")
	result.Set("regionCode", "350100")
	result.Set("expiryDate", "20330307")
	name, _ := c.cipher.Encrypt("张三")
	result.Set("name", name)
	resp := &protocol.Response{MsgCode: protocol.CodeOK, Msg: "成功", Result: result.Encode(), RequestID: id, Timestamp: protocol.FormatTime(time.Now())}
	if err := (protocol.Scheme{}).SignResponse(platformKey, resp); err != nil {
		b.Fatal(err)
	}
	body, _ := protocol.Marshal(resp)
	ans := answer{status: 200, body: body, mid: time.Now(), rtt: time.Millisecond}

	request := func() *protocol.Request {
		_, text, err := c.prepare(protocol.OpCardAuth, data)
		if err != nil {
			b.Fatal(err)
		}
		req, _, err := c.seal("", text)
		if err != nil {
			b.Fatal(err)
		}
		return req
	}
	response := func() {
		rep, _, err := c.open(c.routes[protocol.OpCardAuth], &protocol.Request{RequestID: id}, ans)
		if err != nil || rep.Result.Get("name") != "张三" {
			b.Fatal(err)
		}
	}
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			request()
		}
	})
	b.Run("response", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			response()
		}
	})
	b.Run("total", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			request()
			response()
		}
	})
}

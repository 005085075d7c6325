package platform

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/protocol"
)

// BenchmarkClientCost measures what the client adds to a call besides the network: on
// the way out, completing and SM4-encrypting the data (ID number and name) and signing
// the envelope; on the way back, parsing, verifying the platform's signature, checking
// echo and window, and decrypting the result. The answer is pre-signed by a platform
// key outside the timed loop.
//
// "fixed" is the path of the client before profiles (the sandbox dialect written
// directly with the protocol package, no translation), the baseline the profile's
// cost is measured against; the others run the client itself in each profile.
func BenchmarkClientCost(b *testing.B) {
	province := filepath.Join(b.TempDir(), "province-x.yaml")
	doc := labtest.DocBlock(b, "../docs/platform-profiles.md", "<!-- test:province-x -->")
	if err := os.WriteFile(province, []byte(doc), 0o600); err != nil {
		b.Fatal(err)
	}
	platformKey := protocol.TestKey(protocol.TestPlatformLabel)
	channelKey, _ := protocol.GenerateKey()
	sm4Key, _ := protocol.NewSM4Key()
	var data protocol.Data
	for k, v := range map[string]string{"idNumber": "350102199003077898", "name": "张三", "cardNo": "D10000017",
		"cardId": "350100D156000005300000016A5F3C21", "regionCode": "350100", "cardVersion": "3.00", "authMode": "psam"} {
		data.Set(k, v)
	}
	var result protocol.Data
	result.Set("cardStatus", "normal")
	result.Set("regionCode", "350100")
	result.Set("expiryDate", "20330307")
	result.Set("name", "张三")

	b.Run("fixed", func(b *testing.B) {
		fc, _ := protocol.NewFieldCipher(sm4Key, protocol.SM4CBC, protocol.Base64)
		op, _ := protocol.LookupOp(protocol.OpCardAuth)
		const id = "0123456789abcdef0123456789abcdef"
		res := result.Clone()
		if err := res.EncryptFields(fc, protocol.Sensitive(op.Result)); err != nil {
			b.Fatal(err)
		}
		resp := &protocol.Response{MsgCode: protocol.CodeOK, Msg: "成功", Result: res.Encode(), RequestID: id, Timestamp: protocol.FormatTime(time.Now())}
		if err := (protocol.Scheme{}).SignResponse(platformKey, resp); err != nil {
			b.Fatal(err)
		}
		body, _ := protocol.Marshal(resp)
		request := func() {
			d := data.Clone()
			d.Set("terminalId", "SSC-BENCH-0001")
			if err := checkRequired(op.Data, d); err != nil {
				b.Fatal(err)
			}
			if err := d.EncryptFields(fc, protocol.Sensitive(op.Data)); err != nil {
				b.Fatal(err)
			}
			req := &protocol.Request{RequestID: protocol.NewRequestID(), Timestamp: protocol.FormatTime(time.Now()),
				ChannelNo: "350100000001", Data: d.Encode()}
			if err := (protocol.Scheme{}).SignRequest(channelKey, req); err != nil {
				b.Fatal(err)
			}
			if _, err := protocol.Marshal(req); err != nil {
				b.Fatal(err)
			}
		}
		response := func() {
			env, fields, err := protocol.ParseResponse(body)
			if err == nil {
				err = env.CheckFields()
			}
			if err == nil {
				err = (protocol.Scheme{}).VerifyFields(platformKey.Public(), fields)
			}
			if err != nil || env.RequestID != id {
				b.Fatal(err)
			}
			if _, err := protocol.ParseTime(env.Timestamp); err != nil {
				b.Fatal(err)
			}
			r, err := protocol.ParseData(env.Result)
			if err == nil {
				err = r.DecryptFields(fc, protocol.Sensitive(op.Result))
			}
			if err == nil {
				err = checkRequired(op.Result, r)
			}
			if err != nil || r.Get("name") != "张三" {
				b.Fatal(err)
			}
		}
		runCost(b, request, response)
	})
	for _, ref := range []string{protocol.ProfileSSCSim, protocol.ProfileAppendixD, province} {
		cfg := DefaultConfig()
		cfg.BaseURL, cfg.ChannelNo, cfg.Profile = "https://127.0.0.1:8443", "350100000001", ref
		cfg.PrivateKey, cfg.PlatformPublicKey, cfg.SM4Key = "unused", "unused", "unused"
		c, err := NewWithKeys(cfg, Keys{Channel: channelKey, Platform: platformKey.Public(), SM4: sm4Key},
			Options{TerminalID: "SSC-BENCH-0001", AllowTestKeys: true})
		if err != nil {
			b.Fatal(err)
		}
		d := c.dialect
		// The platform's answer to a request with a fixed id, in the profile's dialect.
		id := d.NewRequestID()
		wire, err := d.ToWire(protocol.OpCardAuth, protocol.SideResult, result, c.cipher)
		if err != nil {
			b.Fatal(err)
		}
		resp := &protocol.Response{MsgCode: d.SuccessCode(), Msg: "成功", Result: wire.Encode(), RequestID: id, Timestamp: d.FormatTime(time.Now())}
		if err := d.SignResponse(platformKey, resp); err != nil {
			b.Fatal(err)
		}
		body, err := d.MarshalResponse(resp)
		if err != nil {
			b.Fatal(err)
		}
		ans := answer{status: 200, body: body, mid: time.Now(), rtt: time.Millisecond}
		request := func() {
			_, text, err := c.prepare(protocol.OpCardAuth, data)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.seal("", text); err != nil {
				b.Fatal(err)
			}
		}
		response := func() {
			rep, _, err := c.open(c.routes[protocol.OpCardAuth], &protocol.Request{RequestID: id}, ans)
			if err != nil || rep.Result.Get("name") != "张三" {
				b.Fatal(err)
			}
		}
		b.Run("profile="+d.Name(), func(b *testing.B) { runCost(b, request, response) })
	}
}

func runCost(b *testing.B, request, response func()) {
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

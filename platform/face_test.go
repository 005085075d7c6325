package platform_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// runFace verifies 张三's registered portrait (pass), 李四's portrait as 张三 (fail with
// a low score) and a person without a portrait (100011); the image never travels in
// clear.
func runFace(t *testing.T, l *lab) {
	t.Helper()
	ctx := context.Background()
	img, ok := platformsim.Portrait(zhangsan)
	other, ok2 := platformsim.Portrait(lisi)
	if !ok || !ok2 {
		t.Fatal("no built-in portraits")
	}
	r, err := l.client.VerifyFace(ctx, platform.FaceRequest{IDNumber: zhangsan, Name: "张三", Image: img})
	if err != nil || !r.Pass || r.Score != platformsim.FaceScoreMatch || r.Threshold != platformsim.FaceThreshold {
		t.Fatalf("faceVerify of the registered portrait: %+v %v", r, err)
	}
	ex := l.last()
	for _, clear := range [][]byte{img[:64], []byte(base64.StdEncoding.EncodeToString(img)[:64]), []byte(zhangsan)} {
		if bytes.Contains(ex.Request, clear) {
			t.Fatalf("%q in clear on the wire", clear)
		}
	}
	r, err = l.client.VerifyFace(ctx, platform.FaceRequest{IDNumber: zhangsan, Image: other})
	if err != nil || r.Pass || r.Score >= platformsim.FaceThreshold {
		t.Fatalf("faceVerify of another portrait: %+v %v", r, err)
	}
	if _, err := l.client.VerifyFace(ctx, platform.FaceRequest{IDNumber: wangwu, Image: img}); msgCode(err) != protocol.CodeNoPortrait ||
		platform.PromptFor(err) != platform.CodeNoPortrait {
		t.Fatalf("a person without a portrait: %v", err)
	}
}

func (l *lab) sent() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.exchanges)
}

func msgCode(err error) string {
	if pe, ok := err.(*platform.Error); ok {
		return pe.MsgCode
	}
	return ""
}

// Anything but a whole JPEG is refused before it is sent, with the reason.
func TestVerifyFaceRefusesNonJPEG(t *testing.T) {
	l := newLab(t, false)
	img, _ := platformsim.Portrait(zhangsan)
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":     {nil, "empty"},
		"png":       {[]byte("\x89PNG\r\n\x1a\n0000000000"), "no SOI"},
		"truncated": {img[:len(img)-10], "no EOI"},
		"too big":   {append(append(bytes.Clone(img[:len(img)-2]), make([]byte, protocol.MaxFaceImage)...), 0xFF, 0xD9), "more than"},
		"garbled":   {append([]byte{0xFF, 0xD8, 0xFF, 0x00, 0x01}, 0xFF, 0xD9), "not a readable JPEG"},
	} {
		n := l.sent()
		_, err := l.client.VerifyFace(context.Background(), platform.FaceRequest{IDNumber: zhangsan, Image: tc.b})
		if platform.ClassOf(err) != platform.ClassRejected || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: %v", name, err)
		}
		if l.sent() != n {
			t.Errorf("%s: sent", name)
		}
	}
}

// runLogin: a login code approved as 张三 from the sandbox's phone, one refused and
// one expired.
func runLogin(t *testing.T, l *lab) {
	t.Helper()
	ctx := context.Background()
	lc, err := l.client.NewLoginCode(ctx, protocol.LoginScan, time.Minute)
	if err != nil || lc.LoginID == "" || lc.Content == "" || lc.ExpireTime.Before(time.Now()) {
		t.Fatalf("loginCode %+v %v", lc, err)
	}
	if bytes.Contains(l.last().Response, []byte(lc.Content)) {
		t.Fatal("login ticket in clear on the wire")
	}
	if r, err := l.client.PollLogin(ctx, lc.LoginID); err != nil || r.State != platform.LoginWaiting {
		t.Fatalf("loginPoll before approval %+v %v", r, err)
	}
	if _, err := l.sb.ApproveLogin(lc.Content, zhangsan, false); err != nil {
		t.Fatal(err)
	}
	r, err := l.client.PollLogin(ctx, lc.LoginID)
	if err != nil || r.State != platform.LoginAuthorised || r.IDNumber.Clear() != zhangsan || r.Name.Clear() != "张三" || r.IDType != "01" {
		t.Fatalf("loginPoll after approval %+v %v", r, err)
	}
	if _, err := l.sb.ApproveLogin(lc.Content, zhangsan, false); err == nil {
		t.Fatal("a login approved twice")
	}
	lc2, err := l.client.NewLoginCode(ctx, protocol.LoginAuthorise, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.sb.ApproveLogin(lc2.Content, "", true); err != nil {
		t.Fatal(err)
	}
	if r, err := l.client.PollLogin(ctx, lc2.LoginID); err != nil || r.State != platform.LoginRefused || r.IDNumber.Clear() != "" {
		t.Fatalf("refused login %+v %v", r, err)
	}
	if _, err := l.client.PollLogin(ctx, "L0000"); msgCode(err) != protocol.CodeLoginUnknown {
		t.Fatalf("unknown login: %v", err)
	}
}

func TestLoginExpires(t *testing.T) {
	l := newLab(t, false)
	ctx := context.Background()
	lc, err := l.client.NewLoginCode(ctx, protocol.LoginScan, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l.sb.SetClockOffset(31 * time.Second)
	if _, err := l.sb.ApproveLogin(lc.Content, zhangsan, false); err == nil {
		t.Fatal("an expired code approved")
	}
	if r, err := l.client.PollLogin(ctx, lc.LoginID); err != nil || r.State != platform.LoginExpired {
		t.Fatalf("loginPoll of an expired code %+v %v", r, err)
	}
}

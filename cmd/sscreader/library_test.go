package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/card"
)

// Unit tests of the library's Go side against a stand-in for the agent's local API
// (the real agent is TestReaderLibrary's).

const lisiLine = "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|00544553545353350120000002|2.00|20180310|20280310|350100000001||"

// fakeAgent answers each request with the next canned answer and records the requests.
type fakeAgent struct {
	srv *httptest.Server

	mu      sync.Mutex // guards the fields below
	answers []cannedAnswer
	got     []request
}

type cannedAnswer struct {
	status int
	body   string
}

type request struct {
	path, auth string
	body       map[string]any
}

func newFakeAgent(t *testing.T) *fakeAgent {
	f := &fakeAgent{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		f.mu.Lock()
		f.got = append(f.got, request{path: r.URL.Path, auth: r.Header.Get("Authorization"), body: body})
		a := cannedAnswer{http.StatusInternalServerError, "no answer queued"}
		if len(f.answers) > 0 {
			a, f.answers = f.answers[0], f.answers[1:]
		}
		f.mu.Unlock()
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAgent) queue(status int, v any) {
	body, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		body = string(b)
	}
	f.mu.Lock()
	f.answers = append(f.answers, cannedAnswer{status, body})
	f.mu.Unlock()
}

func (f *fakeAgent) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

// libraryFor returns a library talking to f with the token in a file named by the
// environment.
func libraryFor(t *testing.T, f *fakeAgent, env ...string) *library {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{envAddr: strings.TrimPrefix(f.srv.URL, "http://"), envTokenFile: tok}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	return newLibrary(func(k string) string { return vars[k] }, "")
}

func want(t *testing.T, what string, got outcome, code card.Code, text string) {
	t.Helper()
	exact := !strings.HasSuffix(text, "…")
	prefix := strings.TrimSuffix(text, "…")
	if got.code != code || (exact && got.text != text) || (!exact && !strings.HasPrefix(got.text, prefix)) {
		t.Errorf("%s: %d %q, want %d %q", what, got.code, got.text, code, text)
	}
}

// TestAnswers: each kind of answer of the agent becomes its national code and text.
func TestAnswers(t *testing.T) {
	f := newFakeAgent(t)
	l := libraryFor(t, f)
	for _, c := range []struct {
		what   string
		status int
		body   any
		code   card.Code
		text   string
	}{
		{"a read", 200, localapi.CardReadResult{IReadCardBas: lisiLine}, 0, lisiLine},
		{"no card", 200, localapi.CardReadResult{Code: -2, Meaning: "无卡"}, -2, "无卡"},
		{"a status word without a meaning", 200, localapi.CardReadResult{Code: -27010}, -27010, card.Code(-27010).Meaning()},
		{"ten fields", 200, localapi.CardReadResult{IReadCardBas: "1|2|3|4|5|6|7|8|9|10|"}, -11, "读卡器连接错：sscagent 的应答不是 11 项基本信息"},
		{"not JSON", 200, "<html>", -11, "读卡器连接错：sscagent 的应答不是 JSON…"},
		{"token refused", 401, `{"error":"unauthorized"}`, -11, "读卡器连接错：sscagent 拒绝了令牌 (HTTP 401)"},
		{"no reader scene", 501, `{}`, -11, "读卡器连接错：本终端没有 reader 读卡场景 (HTTP 501)"},
		{"refused request", 422, `{}`, -14, "命令参数错：sscagent 拒绝了请求 (HTTP 422)"},
		{"agent failing", 503, `{}`, -11, "读卡器连接错：sscagent 应答 HTTP 503"},
	} {
		f.queue(c.status, c.body)
		want(t, c.what, l.readBas(3), c.code, c.text)
	}
	reqs := f.requests()
	if len(reqs) == 0 || reqs[0].path != "/v1/card/read" || reqs[0].auth != "Bearer tok-123" || reqs[0].body["iType"] != 3.0 {
		t.Errorf("request: %+v", reqs)
	}
	// iType is checked before anything is sent.
	n := len(f.requests())
	for _, it := range []int{0, 5, -1} {
		want(t, "iType", l.readBas(it), -14, "命令参数错：iType 须为 1、2、3 或 4…")
		want(t, "iType", l.hsmStep1(it), -14, "命令参数错：iType 须为 1、2、3 或 4…")
	}
	if len(f.requests()) != n {
		t.Error("a bad iType was sent to the agent")
	}
}

// TestSessionCarried: Step 1's session goes to Step 2 once; Step 2 without a waiting
// Step 1 is -12 without asking the agent; a failed Step 1 leaves no session.
func TestSessionCarried(t *testing.T) {
	f := newFakeAgent(t)
	l := libraryFor(t, f)
	want(t, "step 2 first", l.hsmStep2("k|"), -12, "未建立连接：没有等待步骤二的步骤一")
	if len(f.requests()) != 0 {
		t.Fatal("step 2 without a session asked the agent")
	}
	f.queue(200, localapi.CardReadResult{Step1: "350100|…|", Session: "s-1"})
	want(t, "step 1", l.hsmStep1(1), 0, "350100|…|")
	f.queue(200, localapi.CardReadResult{IReadCardBas: lisiLine})
	want(t, "step 2", l.hsmStep2("pkey|"), 0, lisiLine)
	reqs := f.requests()
	if r := reqs[len(reqs)-1]; r.path != "/v1/card/hsm/step2" || r.body["session"] != "s-1" || r.body["pKey"] != "pkey|" {
		t.Errorf("step 2 request: %+v", r)
	}
	want(t, "step 2 again", l.hsmStep2("pkey|"), -12, "未建立连接…")

	// A Step 2 whose read failed still used the session.
	f.queue(200, localapi.CardReadResult{Step1: "s|", Session: "s-2"})
	l.hsmStep1(1)
	f.queue(200, localapi.CardReadResult{Code: -21, Meaning: "内部认证失败(用户卡不合法)"})
	want(t, "refused step 2", l.hsmStep2("forged|"), -21, "内部认证失败(用户卡不合法)")
	want(t, "after the refused step 2", l.hsmStep2("pkey|"), -12, "未建立连接…")

	// A Step 1 that failed, or one without a session, leaves nothing to Step 2.
	f.queue(200, localapi.CardReadResult{Step1: "s|", Session: "s-3"})
	l.hsmStep1(1)
	f.queue(200, localapi.CardReadResult{Code: -2, Meaning: "无卡"})
	want(t, "step 1 no card", l.hsmStep1(1), -2, "无卡")
	want(t, "after a failed step 1", l.hsmStep2("pkey|"), -12, "未建立连接…")
	f.queue(200, localapi.CardReadResult{Step1: "s|"})
	want(t, "step 1 without session", l.hsmStep1(1), -11, "读卡器连接错：sscagent 的步骤一应答不完整")

	want(t, "empty pKey", l.hsmStep2(""), -14, "命令参数错：pKey 须为 1 至 1024 个字符")
	want(t, "long pKey", l.hsmStep2(strings.Repeat("0", 1025)), -14, "命令参数错…")
}

// TestToken: the token file named by the environment, beside the library, or a clear
// -11 when there is none.
func TestToken(t *testing.T) {
	f := newFakeAgent(t)
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	dir := t.TempDir()
	self := filepath.Join(dir, "libsscreader.so")
	env := map[string]string{envAddr: addr}
	l := newLibrary(func(k string) string { return env[k] }, self)
	want(t, "no token file", l.readBas(1), -11, "读卡器连接错：读不到令牌文件…")
	if err := os.WriteFile(filepath.Join(dir, tokenFileName), []byte("  beside \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.queue(200, localapi.CardReadResult{IReadCardBas: lisiLine})
	want(t, "token beside", l.readBas(1), 0, lisiLine)
	if r := f.requests(); r[len(r)-1].auth != "Bearer beside" {
		t.Errorf("auth %q", r[len(r)-1].auth)
	}
	for _, bad := range []string{"", "\n\n", "two\nlines\n"} {
		if err := os.WriteFile(filepath.Join(dir, tokenFileName), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		want(t, "bad token file "+bad, l.readBas(1), -11, "读卡器连接错：令牌文件 …")
	}
	none := newLibrary(func(k string) string { return env[k] }, "")
	want(t, "no library path", none.readBas(1), -11, "读卡器连接错：未设置 SSCREADER_TOKEN_FILE，且找不到库文件所在目录")
}

// TestSettings: a bad address or timeout is a clear -11; no agent is -11.
func TestSettings(t *testing.T) {
	f := newFakeAgent(t)
	want(t, "bad address", libraryFor(t, f, envAddr, "localhost").readBas(1), -11, "读卡器连接错：SSCREADER_ADDR 须为 host:port，收到 \"localhost\"")
	want(t, "bad timeout", libraryFor(t, f, envTimeout, "soon").readBas(1), -11, "读卡器连接错：SSCREADER_TIMEOUT 须为正的时长(如 60s)，收到 \"soon\"")
	f.srv.Close()
	want(t, "no agent", libraryFor(t, f).readBas(1), -11, "读卡器连接错：无法连接 sscagent…")
}

// TestRender: the output is GBK and NUL-terminated within the buffer; a result that
// does not fit fails with -14 instead of being cut; an error text is cut at a whole
// character.
func TestRender(t *testing.T) {
	buf := func(n int) []byte { return bytes.Repeat([]byte{0xA5}, n) }
	out := buf(1024)
	if c := render(outcome{text: lisiLine}, out); c != 0 || !bytes.Equal(out[:bytes.IndexByte(out, 0)], gbk(lisiLine)) {
		t.Errorf("line: %d %x", c, out[:140])
	}
	if !bytes.Contains(gbk(lisiLine), []byte{0xC0, 0xEE, 0xCB, 0xC4}) { // 李四 in GBK
		t.Errorf("GBK of 李四: %x", gbk("李四"))
	}
	n := len(gbk(lisiLine))
	out = buf(n + 1)
	if c := render(outcome{text: lisiLine}, out); c != 0 || out[n] != 0 {
		t.Errorf("exact fit: %d", c)
	}
	out = buf(n)
	if c := render(outcome{text: lisiLine}, out); c != card.CodeBadParameter || !bytes.HasPrefix(out, gbk("命令参数错")) {
		t.Errorf("no fit: %d %x", c, out)
	}
	// 无卡 is 4 bytes: 4 bytes of buffer hold 无 and the NUL.
	out = buf(4)
	if c := render(outcome{code: -2, text: "无卡"}, out); c != -2 || !bytes.Equal(out, append(gbk("无"), 0, 0xA5)) {
		t.Errorf("cut: %d %x", c, out)
	}
	if c := render(outcome{text: "x"}, nil); c != card.CodeBadParameter {
		t.Errorf("no buffer: %d", c)
	}
	out = buf(16)
	if c := guarded(out, func() outcome { panic("boom") }); c != card.CodeReaderConnect || bytes.IndexByte(out, 0) < 0 {
		t.Errorf("panic: %d %x", c, out)
	}
	if s := fromGBK(gbk("张三|")); s != "张三|" {
		t.Errorf("GBK round trip: %q", s)
	}
}

// FuzzAnswer: whatever the agent answers, the output stays within the buffer, ends in
// a NUL, and a failure is never code 0.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{`{"code":0,"iReadCardBas":"` + lisiLine + `"}`, `{"code":-2,"meaning":"无卡"}`,
		`{"code":0,"step1":"a|","session":"s"}`, `not json`, `{"code":0,"iReadCardBas":"` + strings.Repeat("长", 600) + strings.Repeat("|", 11) + `"}`} {
		f.Add(200, []byte(s), 1024)
	}
	f.Add(401, []byte(`{}`), 4)
	f.Fuzz(func(t *testing.T, status int, body []byte, size int) {
		if size < 0 || size > 1<<16 {
			return
		}
		var res localapi.CardReadResult
		o, ok := answer(status, body, &res)
		if ok {
			o = line(res)
		} else if o.code == 0 {
			t.Fatalf("status %d: code 0 without a card result", status)
		}
		if status != http.StatusOK && ok {
			t.Fatalf("status %d taken as a card result", status)
		}
		out := bytes.Repeat([]byte{0xA5}, size+8)
		code := render(o, out[:size])
		if !bytes.Equal(out[size:], bytes.Repeat([]byte{0xA5}, 8)) {
			t.Fatal("written past the buffer")
		}
		if size > 0 && bytes.IndexByte(out[:size], 0) < 0 {
			t.Fatal("no NUL in the buffer")
		}
		if code == 0 && (!ok || res.Code != 0) {
			t.Fatalf("code 0 for %q", body)
		}
	})
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/card"
)

// Environment and files the library reads at each call (docs/reader-library.md).
const (
	envAddr      = "SSCREADER_ADDR"       // the agent's local API, host:port
	envTokenFile = "SSCREADER_TOKEN_FILE" // the bearer token file
	envTimeout   = "SSCREADER_TIMEOUT"    // one call's bound, a Go duration
	// defaultAddr is the local API's default listen address (localapi.DefaultConfig).
	defaultAddr = "127.0.0.1:8765"
	// tokenFileName is the token file looked for beside the library without
	// SSCREADER_TOKEN_FILE.
	tokenFileName = "sscreader.token"
	// defaultTimeout bounds one call: longer than the agent's own bound on a read
	// (cards.readTimeout, 20 s by default), so the agent's answer comes first.
	defaultTimeout = 60 * time.Second
	// maxPKey is the longest pKey the agent takes.
	maxPKey = 1024
	// maxAnswer bounds the agent's answer read.
	maxAnswer = 64 << 10
	// maxToken bounds the token file read.
	maxToken = 4 << 10
)

// outcome is one call's result: the national code and the output, UTF-8 (the 11-field
// string, the Step 1 string, or the error text).
type outcome struct {
	code card.Code
	text string
}

// fail is an outcome of the library's own: the code's meaning, and why.
func fail(code card.Code, format string, args ...any) outcome {
	return outcome{code: code, text: code.Meaning() + "：" + fmt.Sprintf(format, args...)}
}

// library is the state of the loaded library: the HSM Step 1 waiting for its Step 2.
type library struct {
	getenv func(string) string
	self   string // the library file's absolute path, "" when unknown
	client *http.Client

	mu      sync.Mutex // guards session
	session string     // the agent's session of the last Step 1, until its Step 2
}

// newLibrary returns the library's state; self is the library file's path (made absolute
// here, at load time, before the host application changes directory).
func newLibrary(getenv func(string) string, self string) *library {
	if self != "" {
		if abs, err := filepath.Abs(self); err == nil {
			self = abs
		}
	}
	// Loopback only, never through a proxy the host application's environment names.
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	return &library{getenv: getenv, self: self, client: &http.Client{Transport: tr}}
}

// readBas is iReadCardBas.
func (l *library) readBas(iType int) outcome {
	if o, bad := checkIType(iType); bad {
		return o
	}
	res, o, ok := l.post("/v1/card/read", localapi.CardReadRequest{IType: iType})
	if !ok {
		return o
	}
	return line(res)
}

// hsmStep1 is iReadCardBas_HSM_Step1: the Step 1 string; the session is kept for Step 2.
// A Step 1 replaces one that never got its Step 2 (the agent lets that read run out).
func (l *library) hsmStep1(iType int) outcome {
	if o, bad := checkIType(iType); bad {
		return o
	}
	l.setSession("")
	res, o, ok := l.post("/v1/card/hsm/step1", localapi.CardReadRequest{IType: iType})
	if !ok {
		return o
	}
	if res.Code != 0 {
		return failed(res)
	}
	if res.Step1 == "" || res.Session == "" {
		return fail(card.CodeReaderConnect, "sscagent 的步骤一应答不完整")
	}
	l.setSession(res.Session)
	return outcome{text: res.Step1}
}

// hsmStep2 is iReadCardBas_HSM_Step2: pKey to the session of the last Step 1, which is
// used once whatever the outcome.
func (l *library) hsmStep2(pKey string) outcome {
	if pKey == "" || len(pKey) > maxPKey {
		return fail(card.CodeBadParameter, "pKey 须为 1 至 %d 个字符", maxPKey)
	}
	l.mu.Lock()
	session := l.session
	l.session = ""
	l.mu.Unlock()
	if session == "" {
		return fail(card.CodeNotConnected, "没有等待步骤二的步骤一")
	}
	res, o, ok := l.post("/v1/card/hsm/step2", localapi.HSMStep2Request{Session: session, PKey: pKey})
	if !ok {
		return o
	}
	return line(res)
}

func (l *library) setSession(s string) {
	l.mu.Lock()
	l.session = s
	l.mu.Unlock()
}

// unsupported is the answer of every national function the library does not carry out.
func unsupported() outcome {
	return outcome{code: card.CodeUnsupported, text: card.CodeUnsupported.Meaning()}
}

func checkIType(iType int) (outcome, bool) {
	if iType < 1 || iType > 4 {
		return fail(card.CodeBadParameter, "iType 须为 1、2、3 或 4，收到 %d", iType), true
	}
	return outcome{}, false
}

// line is the outcome of a read answered with the 11-field string.
func line(res localapi.CardReadResult) outcome {
	if res.Code != 0 {
		return failed(res)
	}
	if strings.Count(res.IReadCardBas, "|") != 11 || !strings.HasSuffix(res.IReadCardBas, "|") {
		return fail(card.CodeReaderConnect, "sscagent 的应答不是 11 项基本信息")
	}
	return outcome{text: res.IReadCardBas}
}

// failed is the outcome of a card failure the agent reported: its code and meaning.
func failed(res localapi.CardReadResult) outcome {
	c := card.Code(res.Code)
	m := res.Meaning
	if m == "" {
		m = c.Meaning()
	}
	return outcome{code: c, text: m}
}

// post sends one request to the agent and decodes its card answer; ok is false with the
// outcome when there is none (the agent unreachable, the token refused, ...).
func (l *library) post(path string, body any) (res localapi.CardReadResult, o outcome, ok bool) {
	addr := l.getenv(envAddr)
	if addr == "" {
		addr = defaultAddr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return res, fail(card.CodeReaderConnect, "%s 须为 host:port，收到 %q", envAddr, addr), false
	}
	timeout := defaultTimeout
	if v := l.getenv(envTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return res, fail(card.CodeReaderConnect, "%s 须为正的时长(如 60s)，收到 %q", envTimeout, v), false
		}
		timeout = d
	}
	token, err := l.token()
	if err != nil {
		return res, fail(card.CodeReaderConnect, "%v", err), false
	}
	b, err := json.Marshal(body)
	if err != nil {
		return res, fail(card.CodeBadParameter, "%v", err), false
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(b))
	if err != nil {
		return res, fail(card.CodeReaderConnect, "%v", err), false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := *l.client
	c.Timeout = timeout
	resp, err := c.Do(req)
	if err != nil {
		return res, fail(card.CodeReaderConnect, "无法连接 sscagent %s (%v)", addr, errors.Unwrap(err)), false
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return res, fail(card.CodeReaderConnect, "读 sscagent 应答出错 (%v)", err), false
	}
	o, ok = answer(resp.StatusCode, ans, &res)
	return res, o, ok
}

// answer decodes the agent's answer of status into res; ok is false with the outcome
// of an answer that is not a card result.
func answer(status int, body []byte, res *localapi.CardReadResult) (outcome, bool) {
	switch status {
	case http.StatusOK:
		if err := json.Unmarshal(body, res); err != nil {
			return fail(card.CodeReaderConnect, "sscagent 的应答不是 JSON (%v)", err), false
		}
		return outcome{}, true
	case http.StatusUnauthorized, http.StatusForbidden:
		return fail(card.CodeReaderConnect, "sscagent 拒绝了令牌 (HTTP %d)", status), false
	case http.StatusNotImplemented:
		return fail(card.CodeReaderConnect, "本终端没有 reader 读卡场景 (HTTP %d)", status), false
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fail(card.CodeBadParameter, "sscagent 拒绝了请求 (HTTP %d)", status), false
	}
	return fail(card.CodeReaderConnect, "sscagent 应答 HTTP %d", status), false
}

// token reads the bearer token: the file SSCREADER_TOKEN_FILE names, or sscreader.token
// beside the library.
func (l *library) token() (string, error) {
	path := l.getenv(envTokenFile)
	if path == "" {
		if l.self == "" {
			return "", fmt.Errorf("未设置 %s，且找不到库文件所在目录", envTokenFile)
		}
		path = filepath.Join(filepath.Dir(l.self), tokenFileName)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("读不到令牌文件 (%v)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxToken))
	if err != nil {
		return "", fmt.Errorf("读不到令牌文件 (%v)", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, "\r\n") {
		return "", fmt.Errorf("令牌文件 %s 须为一行非空令牌", path)
	}
	return t, nil
}

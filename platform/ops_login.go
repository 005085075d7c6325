package platform

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// LoginCode is a login code to show as a QR code (7.1.4 登录认证).
type LoginCode struct {
	LoginID string
	// Content is the text of the QR code: a login ticket, never logged.
	Content    string
	ExpireTime time.Time
	RequestID  string
}

// LoginState is the state of a login on the platform.
type LoginState string

// Login states (protocol.Login*).
const (
	LoginWaiting    LoginState = protocol.LoginWaiting
	LoginAuthorised LoginState = protocol.LoginAuthorised
	LoginExpired    LoginState = protocol.LoginExpired
	LoginRefused    LoginState = protocol.LoginRefused
)

// LoginResult is a login's state; the holder once Authorised.
type LoginResult struct {
	LoginID   string
	State     LoginState
	IDNumber  mask.Value // 证件号码
	IDType    string     // 证件类型
	Name      mask.Value // 姓名
	RequestID string
}

var (
	reLoginID   = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)
	reLoginType = regexp.MustCompile(`^0[45]$`)
	reIDType    = regexp.MustCompile(`^[0-9A-Za-z]{1,4}$`)
)

// NewLoginCode asks the platform for a login code of loginType (05 扫码登录, 04 信息授权
// 登录) valid for expire (0: the platform's default; otherwise 30 s to 10 min).
func (c *Client) NewLoginCode(ctx context.Context, loginType string, expire time.Duration) (LoginCode, error) {
	var in inputCheck
	in.pattern("loginType", loginType, reLoginType, "04 or 05")
	if expire != 0 && (expire < 30*time.Second || expire > 10*time.Minute) {
		in.add("expireSeconds", "must be 30-600 seconds")
	}
	if err := in.err(protocol.OpLoginCode); err != nil {
		return LoginCode{}, err
	}
	var d protocol.Data
	d.Set("loginType", loginType)
	if expire != 0 {
		d.Set("expireSeconds", strconv.Itoa(int(expire/time.Second)))
	}
	rep, err := c.Call(ctx, protocol.OpLoginCode, d)
	if err != nil {
		return LoginCode{}, err
	}
	g := rep.Result.Get
	lc := LoginCode{LoginID: g("loginId"), Content: g("codeContent"), RequestID: rep.RequestID}
	if !reLoginID.MatchString(lc.LoginID) || lc.Content == "" || len(lc.Content) > 2048 {
		return LoginCode{}, c.unverified(rep, fmt.Errorf("loginId %q or codeContent of %d bytes", lc.LoginID, len(lc.Content)))
	}
	t, err := protocol.ParseTime(g("expireTime"))
	if err != nil {
		return LoginCode{}, c.unverified(rep, err)
	}
	lc.ExpireTime = t
	return lc, nil
}

// PollLogin returns a login's state. Polling only reads; a login id the platform never
// issued is a ClassRejected error with msgCode 200005.
func (c *Client) PollLogin(ctx context.Context, loginID string) (LoginResult, error) {
	var in inputCheck
	in.pattern("loginId", loginID, reLoginID, "1-64 letters or digits")
	if err := in.err(protocol.OpLoginPoll); err != nil {
		return LoginResult{}, err
	}
	var d protocol.Data
	d.Set("loginId", loginID)
	rep, err := c.Call(ctx, protocol.OpLoginPoll, d)
	if err != nil {
		return LoginResult{}, err
	}
	g := rep.Result.Get
	res := LoginResult{LoginID: g("loginId"), State: LoginState(g("loginState")), IDType: g("idType"),
		IDNumber: mask.Of(mask.KindIDNumber, g("idNumber")), Name: mask.Of(mask.KindName, g("name")), RequestID: rep.RequestID}
	switch {
	case res.LoginID != loginID:
		return res, c.unverified(rep, fmt.Errorf("result is for login %q, not %q", res.LoginID, loginID))
	case res.State != LoginWaiting && res.State != LoginAuthorised && res.State != LoginExpired && res.State != LoginRefused:
		return res, c.unverified(rep, fmt.Errorf("loginState %q", res.State))
	case res.State == LoginAuthorised && (!reIDNumber.MatchString(res.IDNumber.Clear()) || !reIDType.MatchString(res.IDType) || res.Name.Clear() == ""):
		return res, c.unverified(rep, fmt.Errorf("AUTHORISED without a valid idNumber, idType and name"))
	}
	return res, nil
}

// CodeLoginUnknown: the platform never issued the login polled (msgCode 200005).
const CodeLoginUnknown prompt.Code = 400205

func init() {
	byMsgCode[protocol.CodeLoginUnknown] = CodeLoginUnknown
	prompt.Register(prompt.Message{Code: CodeLoginUnknown,
		Holder:     prompt.Text{ZH: "登录未完成，请重新获取登录二维码", EN: "The login did not complete; please get a new login code"},
		Operator:   prompt.Text{ZH: "平台无此登录流水号", EN: "The platform has no such login"},
		Maintainer: prompt.Text{ZH: "查询登录结果返回200005(登录流水号不存在)", EN: "loginPoll answered 200005 (login id not issued)"}})
}

package protocol

import "github.com/sscagent/sscagent/internal/mask"

// QR login (7.1.4 登录认证): the terminal asks the platform for a login code, shows it as
// a QR code, the holder scans it with the e-card app on the phone and approves, and the
// terminal polls until the platform says who logged in. The operations join the
// operation table at package initialisation, after the operations of operation.go.
const (
	OpLoginCode Op = "loginCode" // 获取登录码
	OpLoginPoll Op = "loginPoll" // 查询登录结果
)

// Login types (loginType, 办事凭证类型 of the C.3 record, table C.6).
const (
	LoginScan      = "05" // 扫码登录
	LoginAuthorise = "04" // 信息授权登录
)

// Login states (result loginState of loginPoll).
const (
	LoginWaiting    = "WAITING"    // not scanned or not approved yet: poll again
	LoginAuthorised = "AUTHORISED" // the holder approved: idNumber, idType and name are given
	LoginExpired    = "EXPIRED"    // the code expired unapproved
	LoginRefused    = "REFUSED"    // the holder declined
)

// CodeLoginUnknown: the platform never issued the login id polled.
const CodeLoginUnknown = "200005"

var fLoginID = Field{Path: "loginId", ZH: "登录流水号", Required: true, Doc: "the platform's id of the login, 1-64 letters or digits"}

var loginOperations = []Operation{
	{
		Op: OpLoginCode, ZH: "获取登录码", Path: "/api/v1/login/code",
		Data: []Field{
			{Path: "loginType", ZH: "登录类型", Required: true, Doc: "05 扫码登录 | 04 信息授权登录 (table C.6)"},
			{Path: "expireSeconds", ZH: "登录码有效期（秒）", Doc: "30-600, default 120"},
		},
		Result: []Field{fLoginID,
			{Path: "codeContent", ZH: "登录码内容", Required: true, Sensitive: mask.KindSecret, Doc: "the text to show as a QR code; a login ticket, never logged"},
			{Path: "expireTime", ZH: "登录码失效时间", Required: true, Doc: "YYYY-MM-DD HH:MM:SS (Beijing time)"},
		},
	},
	{
		Op: OpLoginPoll, ZH: "查询登录结果", Path: "/api/v1/login/poll",
		Data: []Field{fLoginID},
		Result: []Field{fLoginID,
			{Path: "loginState", ZH: "登录状态", Required: true, Doc: "WAITING (poll again) | AUTHORISED | EXPIRED | REFUSED"},
			{Path: "idNumber", ZH: "证件号码", Sensitive: mask.KindIDNumber, Doc: "the holder, once AUTHORISED"},
			{Path: "idType", ZH: "证件类型", Doc: "GA/T 517 code, once AUTHORISED (01 居民身份证（户口簿）)"},
			{Path: "name", ZH: "姓名", Sensitive: mask.KindName, Doc: "the holder's name, once AUTHORISED"},
		},
	},
}

func init() {
	operations = append(operations, loginOperations...)
	msgCodes = append(msgCodes, MsgCode{CodeLoginUnknown, KindRejected, "登录流水号不存在", "login id not issued"})
}

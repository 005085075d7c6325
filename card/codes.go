package card

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Code is a return code of the national reader interface (读写终端接口 表A.1): 0 for
// success, -1 ... -2204 for the listed errors, and -(SW1SW2 as a decimal number) for a
// card status word (6A88 is -27272). Business systems that call iReadCardBas know
// these codes; sscagent reports them unchanged.
type Code int

// National codes (表A.1).
const (
	CodeOK              Code = 0
	CodeWrongCardType   Code = -1      // 卡类型不对
	CodeNoCard          Code = -2      // 无卡
	CodeNotPowered      Code = -3      // 有卡未上电
	CodeNoResponse      Code = -4      // 卡无应答
	CodeLibrary         Code = -5      // 加载动态库错
	CodeReaderConnect   Code = -11     // 读卡器连接错
	CodeNotConnected    Code = -12     // 未建立连接
	CodeUnsupported     Code = -13     // 不支持该命令
	CodeBadParameter    Code = -14     // 命令参数错
	CodeChecksum        Code = -15     // 信息校验和出错
	CodeCardIDFormat    Code = -20     // 卡识别码格式错
	CodeInternalAuth    Code = -21     // 内部认证失败(用户卡不合法)
	CodeMismatch        Code = -22     // 传入数据与卡内不符
	CodeInvalidInput    Code = -23     // 传入数据不合法
	CodePSAMKeyLevel    Code = -24     // PSAM卡密钥级别不够
	CodePINCancelled    Code = -31     // 用户取消密码输入
	CodePINTimeout      Code = -32     // 密码输入超时
	CodePINLength       Code = -33     // 输入密码长度错
	CodePINMismatch     Code = -34     // 两次输入密码不一致
	CodeInitialPIN      Code = -35     // 初始密码不能交易
	CodeToInitialPIN    Code = -36     // 不能改为初始密码
	CodeIllegalChars    Code = -41     // 运算数据含非法字符
	CodeDataLength      Code = -42     // 运算数据长度错
	CodePINFailed       Code = -51     // PIN校验失败
	CodePINLocked       Code = -52     // PIN锁定
	CodeNoPSAM          Code = -2201   // 无PSAM卡
	CodePSAMAlgorithm   Code = -2202   // PSAM卡算法不支持
	CodePSAMNoRK        Code = -2203   // PSAM卡内没有RKSSSE密钥
	CodeHSMNotNeeded    Code = -2204   // 不需要加密机认证
	CodePSAMKeyNotFound Code = -0x6A88 // 6A88 key not found (in the PSAM)
)

// Ranges of codes.
const (
	firstSWCode           = 0x6000 // status words are 6000-FFFF (61xx and 9000 never fail)
	lastSWCode            = 0xFFFF
	promptBase            = 200000              // prompt code = 200000 + |national code|
	promptUnknownStatus   = prompt.Code(249999) // generic text for a status word without its own
	promptUnknownNational = prompt.Code(249998) // generic text for a code outside the table
)

// SWCode is the national code of a card status word: -(SW1SW2 read as a number). A
// value below 6000 is not a status word at all (a garbled answer): -4.
func SWCode(sw apdu.SW) Code {
	if sw < firstSWCode {
		return CodeNoResponse
	}
	return Code(-int(sw))
}

// SW returns the status word a code stands for, if it is one.
func (c Code) SW() (apdu.SW, bool) {
	if c <= -firstSWCode && c >= -lastSWCode {
		return apdu.SW(-c), true
	}
	return 0, false
}

// String is the code as the interface returns it: "-2201".
func (c Code) String() string { return strconv.Itoa(int(c)) }

// Meaning is the code's meaning in the national table (Chinese), or the status word
// for -SW codes.
func (c Code) Meaning() string {
	if m, ok := meanings[c]; ok {
		return m.zh
	}
	if sw, ok := c.SW(); ok {
		if n, ok := sw.Retries(); ok {
			return fmt.Sprintf("外部认证失败，剩余%d次", n)
		}
		if m, ok := swMeanings[sw]; ok {
			return m.zh
		}
		return "未知错误(" + sw.String() + ")"
	}
	return "未知错误"
}

// Prompt is the spec 8.4 prompt code of the national code: 200000 + |code|, so the
// maintainer sees the national code in it ([202201] for -2201, [227272] for 6A88).
func (c Code) Prompt() prompt.Code {
	if c == CodeOK {
		return prompt.CodeOK
	}
	return prompt.Code(promptBase - int(c))
}

// HSMFallback reports whether the national flow (Appendix C) falls back to the
// platform's HSM two-step for this code: no PSAM, PSAM algorithm unsupported, PSAM
// without RKSSSE, key not found (6A88), PSAM key level insufficient.
func (c Code) HSMFallback() bool {
	switch c {
	case CodeNoPSAM, CodePSAMAlgorithm, CodePSAMNoRK, CodePSAMKeyNotFound, CodePSAMKeyLevel:
		return true
	}
	return false
}

// Own prompt codes (2xxxxx range above the national and status-word codes) for the
// outcomes the national table has no code for. The national code is still reported.
const (
	// PromptRemoved: the card was pulled out before the read completed.
	PromptRemoved prompt.Code = 250001
	// PromptTestCard: a test card (virtual card of the sandbox) on a production
	// terminal.
	PromptTestCard prompt.Code = 250002
	// PromptTestPSAM: a test PSAM on a production terminal.
	PromptTestPSAM prompt.Code = 250003
	// PromptNoReader: no holder-card reader is attached or configured.
	PromptNoReader prompt.Code = 250004
	// PromptTimeout: no card was presented within the time allowed.
	PromptTimeout prompt.Code = 250005
	// PromptService: the PC/SC service is not running.
	PromptService prompt.Code = 250006
	// PromptHSMRejected: the platform refused the card internal authentication.
	PromptHSMRejected prompt.Code = 250007
	// PromptHSMUnavailable: the platform's card internal authentication could not be
	// reached or did not answer in time.
	PromptHSMUnavailable prompt.Code = 250008
	// PromptReaderBusy: another program holds the reader.
	PromptReaderBusy prompt.Code = 250009
	// PromptPSAMFailed: the PSAM is present but does not work (mute, wrong answers).
	PromptPSAMFailed prompt.Code = 250010
	// PromptCardData: the card answered with malformed data.
	PromptCardData prompt.Code = 250011
	// PromptCanceled: the read was cancelled (the agent is stopping).
	PromptCanceled prompt.Code = 250012
)

// Error is a failed card operation: the national code, the prompt to show, the step
// that failed and the cause.
type Error struct {
	// Code is the national interface code (never CodeOK).
	Code Code
	// Prompt is the 8.4 prompt code; zero means Code.Prompt().
	Prompt prompt.Code
	// Op is the step that failed ("select SSSE", "internal authenticate", ...).
	Op string
	// Err is the cause, if any.
	Err error
}

func (e *Error) Error() string {
	s := "card"
	if e.Op != "" {
		s += " " + e.Op
	}
	s += ": " + e.Code.String() + " " + e.Code.Meaning()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// PromptCode returns the prompt code to show for the error.
func (e *Error) PromptCode() prompt.Code {
	if e.Prompt != 0 {
		return e.Prompt
	}
	return e.Code.Prompt()
}

// Message returns the 8.4 message for the error. A status word without a message of its
// own gets the generic "unknown card status" texts under its own code, so the
// maintainer still sees the status word.
func (e *Error) Message() prompt.Message { return Message(e.PromptCode()) }

// Message returns the registered message for a prompt code of this package, or the
// generic card message carrying that code.
func Message(pc prompt.Code) prompt.Message {
	if m, ok := registered(pc); ok {
		return m
	}
	m := prompt.Lookup(promptUnknownStatus)
	if pc < promptBase+firstSWCode || pc > promptBase+lastSWCode {
		m = prompt.Lookup(promptUnknownNational)
	}
	m.Code = pc
	return m
}

// Errorf returns an *Error with the national code and a cause built like fmt.Errorf
// (use %w to keep the cause's identity).
func Errorf(code Code, op, format string, args ...any) *Error {
	return &Error{Code: code, Op: op, Err: fmt.Errorf(format, args...)}
}

// CodeOf returns the national code of err: the code of a wrapped *Error, -SW for a card
// status word, the codes of the reader errors (-2 no card or card removed, -4 card
// mute, -11 reader or service unavailable), and -4 for anything else. nil is CodeOK.
func CodeOf(err error) Code {
	return classify(err).Code
}

// AsError returns err as an *Error: the wrapped *Error, or a new one classified like
// CodeOf with the prompt that fits the cause. op names the step for new errors.
func AsError(op string, err error) *Error {
	if err == nil {
		return nil
	}
	e := classify(err)
	if e.Op == "" {
		e.Op = op
	}
	return e
}

func classify(err error) *Error {
	if err == nil {
		return &Error{Code: CodeOK}
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	e := &Error{Err: err}
	switch sw, isSW := apdu.StatusOf(err); {
	case isSW:
		e.Code = SWCode(sw)
	case errors.Is(err, drivers.ErrCardRemoved), errors.Is(err, drivers.ErrCardReset):
		e.Code, e.Prompt = CodeNoCard, PromptRemoved
	case errors.Is(err, drivers.ErrNoCard):
		e.Code = CodeNoCard
	case errors.Is(err, drivers.ErrCardMute):
		e.Code = CodeNoResponse
	case errors.Is(err, drivers.ErrNoReader):
		e.Code, e.Prompt = CodeReaderConnect, PromptNoReader
	case errors.Is(err, drivers.ErrNoService), errors.Is(err, drivers.ErrUnsupported):
		e.Code, e.Prompt = CodeReaderConnect, PromptService
	case errors.Is(err, drivers.ErrReaderBusy):
		e.Code, e.Prompt = CodeReaderConnect, PromptReaderBusy
	case errors.Is(err, drivers.ErrClosed):
		e.Code = CodeNotConnected
	case errors.Is(err, apdu.ErrMalformedTLV), errors.Is(err, apdu.ErrMalformedATR):
		e.Code, e.Prompt = CodeWrongCardType, PromptCardData
	case isCanceled(err):
		e.Code, e.Prompt = CodeNoResponse, PromptCanceled
	default:
		e.Code = CodeNoResponse
	}
	return e
}

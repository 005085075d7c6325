package card

import (
	"context"
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/prompt"
)

// text is one national meaning in both languages.
type text struct{ zh, en string }

// meanings are the national table's texts (表A.1).
var meanings = map[Code]text{
	CodeWrongCardType:   {"卡类型不对", "wrong card type"},
	CodeNoCard:          {"无卡", "no card"},
	CodeNotPowered:      {"有卡未上电", "card not powered"},
	CodeNoResponse:      {"卡无应答", "card does not respond"},
	CodeLibrary:         {"加载动态库错", "reader library failed to load"},
	CodeReaderConnect:   {"读卡器连接错", "reader connection error"},
	CodeNotConnected:    {"未建立连接", "not connected"},
	CodeUnsupported:     {"不支持该命令", "command not supported"},
	CodeBadParameter:    {"命令参数错", "command parameter error"},
	CodeChecksum:        {"信息校验和出错", "checksum error"},
	CodeCardIDFormat:    {"卡识别码格式错", "card identifier format error"},
	CodeInternalAuth:    {"内部认证失败(用户卡不合法)", "internal authentication failed (card not genuine)"},
	CodeMismatch:        {"传入数据与卡内不符", "input does not match the card"},
	CodeInvalidInput:    {"传入数据不合法", "invalid input"},
	CodePSAMKeyLevel:    {"PSAM卡密钥级别不够", "PSAM key level insufficient"},
	CodePINCancelled:    {"用户取消密码输入", "PIN entry cancelled"},
	CodePINTimeout:      {"密码输入超时", "PIN entry timed out"},
	CodePINLength:       {"输入密码长度错", "wrong PIN length"},
	CodePINMismatch:     {"两次输入密码不一致", "the two PINs differ"},
	CodeInitialPIN:      {"初始密码不能交易", "the initial PIN cannot be used"},
	CodeToInitialPIN:    {"不能改为初始密码", "cannot change to the initial PIN"},
	CodeIllegalChars:    {"运算数据含非法字符", "illegal characters in the data"},
	CodeDataLength:      {"运算数据长度错", "wrong data length"},
	CodePINFailed:       {"PIN校验失败", "PIN verification failed"},
	CodePINLocked:       {"PIN锁定", "PIN locked"},
	CodeNoPSAM:          {"无PSAM卡", "no PSAM"},
	CodePSAMAlgorithm:   {"PSAM卡算法不支持", "PSAM does not support the card's algorithm"},
	CodePSAMNoRK:        {"PSAM卡内没有RKSSSE密钥", "PSAM has no RKSSSE key"},
	CodeHSMNotNeeded:    {"不需要加密机认证", "HSM authentication not needed"},
	CodePSAMKeyNotFound: {"密钥未找到", "key not found"},
}

// swMeanings are the card status words of 表A.1 (card spec part 5, table 5).
var swMeanings = map[apdu.SW]text{
	apdu.SWWrongLength:         {"长度错误", "wrong length"},
	apdu.SWInvalidState:        {"卡片状态无效", "invalid card state"},
	apdu.SWIncompatibleFile:    {"命令与文件结构不相容", "command incompatible with the file structure"},
	apdu.SWSecurityStatus:      {"不满足安全状态", "security status not satisfied"},
	apdu.SWAuthBlocked:         {"认证方法锁定", "authentication method blocked"},
	apdu.SWRefDataInvalid:      {"引用数据无效或未取随机数", "reference data invalid or no challenge"},
	apdu.SWConditions:          {"使用条件不满足", "conditions of use not satisfied"},
	apdu.SWSMDataWrong:         {"安全报文数据项不正确", "secure messaging data wrong"},
	apdu.SWWrongData:           {"数据域参数不正确", "wrong data field"},
	apdu.SWFuncNotSupported:    {"功能不支持(卡片已锁定)", "function not supported (card blocked)"},
	apdu.SWFileNotFound:        {"文件未找到", "file not found"},
	apdu.SWRecordNotFound:      {"记录未找到", "record not found"},
	apdu.SWRefNotFound:         {"密钥未找到", "key not found"},
	apdu.SWMACInvalid:          {"MAC无效", "MAC invalid"},
	apdu.SWAppLocked:           {"应用永久锁定", "application permanently locked"},
	apdu.SWKeyIndexUnsupported: {"密钥索引不支持", "key index not supported"},
	apdu.SWMACUnavailable:      {"所需MAC不可用", "MAC unavailable"},
}

// Holder texts shared by many codes.
var (
	holderRetry   = prompt.Text{ZH: "读卡未成功，请重新插卡", EN: "The card could not be read, please insert it again"}
	holderDevice  = prompt.Text{ZH: "读卡设备暂不可用，请联系工作人员", EN: "The card reader is not available, please ask staff for help"}
	holderCounter = prompt.Text{ZH: "卡片暂不能使用，请到社会保障经办机构咨询", EN: "This card cannot be used now, please contact a social security office"}
	holderPIN     = prompt.Text{ZH: "密码未通过，请重新输入", EN: "The PIN was not accepted, please try again"}
)

// own is every prompt code this package registered (prompt has no "is registered").
var own = map[prompt.Code]bool{}

func registered(pc prompt.Code) (prompt.Message, bool) {
	if !own[pc] {
		return prompt.Message{}, false
	}
	return prompt.Lookup(pc), true
}

func msg(pc prompt.Code, holder prompt.Text, opZH, opEN, mZH, mEN string) prompt.Message {
	return prompt.Message{Code: pc, Holder: holder,
		Operator:   prompt.Text{ZH: opZH, EN: opEN},
		Maintainer: prompt.Text{ZH: mZH, EN: mEN}}
}

// national builds the message of a national code; the maintainer text is the table's
// meaning and the national code.
func national(c Code, holder prompt.Text, opZH, opEN string) prompt.Message {
	m := meanings[c]
	return msg(c.Prompt(), holder, opZH, opEN,
		fmt.Sprintf("%s(%d)", m.zh, int(c)), fmt.Sprintf("%s (%d)", m.en, int(c)))
}

// status builds the message of a card status word.
func status(sw apdu.SW, holder prompt.Text, opZH, opEN string) prompt.Message {
	m := swMeanings[sw]
	return msg(SWCode(sw).Prompt(), holder, opZH, opEN,
		fmt.Sprintf("卡片返回状态字%s：%s", sw, m.zh), fmt.Sprintf("card status word %s: %s", sw, m.en))
}

func messages() []prompt.Message {
	ms := []prompt.Message{
		national(CodeWrongCardType, prompt.Text{ZH: "请使用社会保障卡", EN: "Please use a social security card"},
			"该卡不是社会保障卡，请持卡人更换卡片", "Not a social security card; ask the holder for the right card"),
		national(CodeNoCard, prompt.Text{ZH: "请插入社会保障卡", EN: "Please insert your social security card"},
			"读卡器内无卡，请持卡人插卡", "No card in the reader; ask the holder to insert the card"),
		national(CodeNotPowered, holderRetry, "卡片未上电，请重新插卡", "Card not powered; insert it again"),
		national(CodeNoResponse, holderRetry, "卡片无应答，请检查卡片是否插反、脏污或损坏", "The card does not respond; check it is inserted the right way and not damaged"),
		national(CodeLibrary, holderDevice, "读卡组件加载失败，请联系维护人员", "Reader component failed to load; call maintenance"),
		national(CodeReaderConnect, holderDevice, "读卡器连接失败，请检查读卡器连接线和电源", "Reader connection failed; check its cable and power"),
		national(CodeNotConnected, holderDevice, "未与读卡器建立连接，请稍后重试", "Not connected to the reader; retry shortly"),
		national(CodeUnsupported, holderRetry, "读卡器或卡片不支持该命令", "The reader or card does not support the command"),
		national(CodeBadParameter, holderRetry, "读卡命令参数错误，请联系维护人员", "Command parameter error; call maintenance"),
		national(CodeChecksum, holderRetry, "读卡数据校验出错，请重新读卡", "Checksum error; read the card again"),
		national(CodeCardIDFormat, holderCounter, "卡识别码格式错误，请持卡人到经办机构核查", "Card identifier malformed; refer the holder to an office"),
		national(CodeInternalAuth, holderCounter, "卡片内部认证失败，该卡不合法，请勿受理", "Card internal authentication failed: not a genuine card, do not accept it"),
		national(CodeMismatch, holderRetry, "传入数据与卡内信息不符，请确认是同一张卡", "Input does not match the card; make sure it is the same card"),
		national(CodeInvalidInput, holderRetry, "传入数据不合法，请核对后重试", "Invalid input; check and retry"),
		national(CodePSAMKeyLevel, holderDevice, "PSAM卡密钥级别不够，无法认证该卡，请联系维护人员", "PSAM key level insufficient for this card; call maintenance"),
		national(CodePINCancelled, prompt.Text{ZH: "已取消密码输入", EN: "PIN entry cancelled"}, "持卡人取消了密码输入", "The holder cancelled PIN entry"),
		national(CodePINTimeout, prompt.Text{ZH: "密码输入超时，请重新操作", EN: "PIN entry timed out, please start again"}, "密码输入超时", "PIN entry timed out"),
		national(CodePINLength, holderPIN, "密码长度不正确", "Wrong PIN length"),
		national(CodePINMismatch, holderPIN, "两次输入的密码不一致", "The two PINs differ"),
		national(CodeInitialPIN, prompt.Text{ZH: "请先修改初始密码", EN: "Please change the initial PIN first"}, "初始密码不能交易，请持卡人先修改密码", "The initial PIN cannot be used; the holder must change it first"),
		national(CodeToInitialPIN, holderPIN, "不能改为初始密码", "Cannot change to the initial PIN"),
		national(CodeIllegalChars, holderRetry, "运算数据含非法字符", "Illegal characters in the data"),
		national(CodeDataLength, holderRetry, "运算数据长度错误", "Wrong data length"),
		national(CodePINFailed, holderPIN, "PIN校验失败，请持卡人重新输入", "PIN verification failed; the holder may try again"),
		national(CodePINLocked, prompt.Text{ZH: "密码已锁定，请到社会保障经办机构解锁", EN: "Your PIN is locked, please visit a social security office"},
			"PIN已锁定，请持卡人到经办机构解锁", "PIN locked; refer the holder to an office"),
		national(CodeNoPSAM, holderDevice, "未检测到PSAM卡，且无法使用加密机认证，请联系维护人员", "No PSAM, and HSM authentication is not available; call maintenance"),
		national(CodePSAMAlgorithm, holderDevice, "PSAM卡不支持该卡的算法，请联系维护人员", "The PSAM does not support this card's algorithm; call maintenance"),
		national(CodePSAMNoRK, holderDevice, "PSAM卡内没有RKSSSE密钥，无法读取第三代卡，请联系维护人员", "The PSAM lacks RKSSSE and cannot read gen-3 cards; call maintenance"),
		national(CodeHSMNotNeeded, holderRetry, "该卡不需要加密机认证", "This card needs no HSM authentication"),
		status(apdu.SWWrongLength, holderRetry, "卡片拒绝命令(长度错误)，请重新读卡", "The card refused the command (length); read again"),
		status(apdu.SWInvalidState, holderCounter, "卡片状态无效，请持卡人到经办机构核查", "Invalid card state; refer the holder to an office"),
		status(apdu.SWIncompatibleFile, holderRetry, "卡片文件结构不符，请重新读卡", "Card file structure mismatch; read again"),
		status(apdu.SWSecurityStatus, holderRetry, "卡片安全状态不满足，请重新读卡", "Card security status not satisfied; read again"),
		status(apdu.SWAuthBlocked, holderCounter, "卡片认证已锁定，请持卡人到经办机构处理", "Card authentication blocked; refer the holder to an office"),
		status(apdu.SWRefDataInvalid, holderRetry, "卡片认证数据无效，请重新读卡", "Card authentication data invalid; read again"),
		status(apdu.SWConditions, holderRetry, "卡片使用条件不满足，请重新读卡", "Card conditions not satisfied; read again"),
		status(apdu.SWSMDataWrong, holderRetry, "安全报文数据不正确，请重新读卡", "Secure messaging data wrong; read again"),
		status(apdu.SWWrongData, holderRetry, "卡片或PSAM拒绝数据，请联系维护人员", "The card or PSAM refused the data; call maintenance"),
		status(apdu.SWFuncNotSupported, holderCounter, "卡片已锁定或不支持该功能，请持卡人到经办机构处理", "Card blocked or function unsupported; refer the holder to an office"),
		status(apdu.SWFileNotFound, holderRetry, "卡内文件未找到，该卡可能不是社会保障卡", "File not found on the card; it may not be a social security card"),
		status(apdu.SWRecordNotFound, holderRetry, "卡内记录未找到", "Record not found on the card"),
		status(apdu.SWRefNotFound, holderDevice, "未找到所需密钥(PSAM或卡片)，请联系维护人员", "Key not found (PSAM or card); call maintenance"),
		status(apdu.SWMACInvalid, holderRetry, "MAC校验失败，请重新读卡", "MAC check failed; read again"),
		status(apdu.SWAppLocked, holderCounter, "卡片应用已永久锁定，请持卡人到经办机构处理", "Card application permanently locked; refer the holder to an office"),
		status(apdu.SWKeyIndexUnsupported, holderDevice, "密钥索引不支持，请联系维护人员", "Key index not supported; call maintenance"),
		status(apdu.SWMACUnavailable, holderRetry, "所需MAC不可用，请重新读卡", "MAC unavailable; read again"),
		msg(promptUnknownStatus, holderRetry, "卡片返回错误状态，请重新读卡；仍失败请联系维护人员", "The card returned an error status; read again, then call maintenance",
			"卡片返回未知状态字(提示码后五位为状态字的十进制值)", "Unknown card status word (the last five digits of the code are its decimal value)"),
		msg(promptUnknownNational, holderRetry, "读卡失败，请重新读卡；仍失败请联系维护人员", "Read failed; read again, then call maintenance",
			"读卡接口未知错误", "Unknown reader interface error"),
		msg(PromptRemoved, prompt.Text{ZH: "读卡未完成，请重新插卡，听到提示前请勿拔卡", EN: "The card was removed too early, please insert it again and wait for the prompt"},
			"读卡过程中卡片被拔出，请重新插卡", "The card was pulled out during the read; insert it again",
			"读卡过程中卡片移除或被复位，未返回任何数据", "Card removed or reset during the read; nothing was returned"),
		msg(PromptTestCard, prompt.Text{ZH: "该卡不能在此使用，请联系工作人员", EN: "This card cannot be used here, please ask staff for help"},
			"检测到测试卡，生产终端拒绝受理", "A test card was presented; a production terminal refuses it",
			"测试卡(沙箱虚拟卡)出现在生产终端(terminal.test 未开启)", "Test card (sandbox virtual card) on a production terminal (terminal.test is off)"),
		msg(PromptTestPSAM, holderDevice, "检测到测试PSAM卡，生产终端不使用，请更换正式PSAM卡", "A test PSAM is inserted; a production terminal will not use it, insert the real PSAM",
			"测试PSAM(沙箱虚拟PSAM)出现在生产终端(terminal.test 未开启)", "Test PSAM (sandbox virtual PSAM) on a production terminal (terminal.test is off)"),
		msg(PromptNoReader, holderDevice, "未连接读卡器，请检查读卡器连接线", "No card reader attached; check its cable",
			"未发现持卡人读卡器(读卡器未连接或名称不匹配 cards.readers.holder)", "No holder-card reader (not attached, or no name matches cards.readers.holder)"),
		msg(PromptTimeout, prompt.Text{ZH: "未检测到卡片，请插入社会保障卡后重试", EN: "No card was detected, please insert your card and try again"},
			"等待插卡超时", "Timed out waiting for a card", "在规定时间内未检测到插卡", "No card inserted within the time allowed"),
		msg(PromptService, holderDevice, "读卡服务未运行，请联系维护人员", "The card reader service is not running; call maintenance",
			"PC/SC 服务(pcscd/SCardSvr)不可用，正在重连", "PC/SC service (pcscd/SCardSvr) not available; reconnecting"),
		msg(PromptHSMRejected, holderCounter, "平台拒绝了该卡的内部认证，请勿受理", "The platform refused the card's internal authentication; do not accept the card",
			"一卡通平台卡内部认证(加密机)返回业务拒绝", "Platform card internal authentication (HSM) rejected the card"),
		msg(PromptHSMUnavailable, prompt.Text{ZH: "系统繁忙，请稍后再试", EN: "The system is busy, please try again later"},
			"无法连接平台完成卡认证，请稍后重试", "The platform could not be reached for card authentication; retry later",
			"一卡通平台卡内部认证(加密机)不可达或超时", "Platform card internal authentication (HSM) unreachable or timed out"),
		msg(PromptReaderBusy, holderDevice, "读卡器被其他程序占用，请关闭占用程序", "Another program holds the reader; close it",
			"读卡器被其他程序独占(SCARD_E_SHARING_VIOLATION)", "Reader held exclusively by another program (sharing violation)"),
		msg(PromptPSAMFailed, holderDevice, "PSAM卡工作异常，请检查PSAM卡是否插好", "The PSAM does not work; check it is seated properly",
			"PSAM卡无应答或应答异常", "PSAM mute or answering wrongly"),
		msg(PromptCardData, holderCounter, "卡内数据格式异常，请持卡人到经办机构核查", "Card data malformed; refer the holder to an office",
			"卡片返回的数据格式不正确(TLV/ATR)", "Card returned malformed data (TLV/ATR)"),
		msg(PromptCanceled, prompt.Text{ZH: "读卡已取消", EN: "Card reading was cancelled"}, "读卡已取消", "Read cancelled", "读卡被取消(服务停止)", "Read cancelled (service stopping)"),
	}
	// 63Cx: external authentication failed with x tries left.
	for x := 0; x <= 0xF; x++ {
		sw := apdu.SW(0x63C0 + x)
		ms = append(ms, msg(SWCode(sw).Prompt(), holderRetry,
			fmt.Sprintf("卡片认证失败，剩余%d次，请联系维护人员", x), fmt.Sprintf("Card authentication failed, %d tries left; call maintenance", x),
			fmt.Sprintf("外部认证失败(状态字%s)，剩余%d次", sw, x), fmt.Sprintf("External authentication failed (status %s), %d tries left", sw, x)))
	}
	return ms
}

func init() {
	ms := messages()
	for _, m := range ms {
		own[m.Code] = true
	}
	prompt.Register(ms...)
}

// NationalCodes lists every code of the national table (for docs and tests).
func NationalCodes() []Code {
	out := make([]Code, 0, len(meanings))
	for c := range meanings {
		out = append(out, c)
	}
	return out
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

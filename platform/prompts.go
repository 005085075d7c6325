package platform

import (
	"errors"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Prompt codes of platform calls (range 4xxxxx). PromptFor picks one for any error a
// call returns.
const (
	// CodeUnreachable: the request could not be sent (network, DNS, TLS, timeout
	// before sending). Nothing happened on the platform.
	CodeUnreachable prompt.Code = 400001
	// CodeBusy: the platform answered that it is busy or under maintenance.
	CodeBusy prompt.Code = 400002
	// CodeUnknownOutcome: the request was sent and no valid answer came; the platform
	// may have acted.
	CodeUnknownOutcome prompt.Code = 400003
	// CodeUnverified: an answer came that failed verification (signature, requestId,
	// timestamp, malformed): possibly forged. An alarm.
	CodeUnverified prompt.Code = 400004
	// CodeRejected: a business rejection whose msgCode has no prompt of its own.
	CodeRejected prompt.Code = 400005
	// CodeInvalidRequest: the client refused to send malformed parameters.
	CodeInvalidRequest prompt.Code = 400006
	// CodeClock: the terminal's clock is too far from the platform's.
	CodeClock prompt.Code = 400007
	// CodeSetup: the client cannot start (key files, test keys on a production
	// terminal, TLS files).
	CodeSetup prompt.Code = 400008
	// CodeProtocol: the platform refused the request's form (signature, channel,
	// service, decryption): a configuration mismatch with the platform.
	CodeProtocol prompt.Code = 400009

	CodePersonUnknown  prompt.Code = 400101
	CodeCardUnknown    prompt.Code = 400102
	CodeCardLost       prompt.Code = 400103
	CodeCardAbnormal   prompt.Code = 400104
	CodeCardMismatch   prompt.Code = 400105
	CodeCardAuthFailed prompt.Code = 400106
	CodeCardExpired    prompt.Code = 400107
	CodeHSMRefused     prompt.Code = 400108

	CodeQRInvalid     prompt.Code = 400201
	CodeQRExpired     prompt.Code = 400202
	CodeQRUsed        prompt.Code = 400203
	CodeECardAbnormal prompt.Code = 400204

	CodePayNotEnabled  prompt.Code = 400301
	CodeOrderConflict  prompt.Code = 400302
	CodeOrderNotFound  prompt.Code = 400303
	CodeOrderClosed    prompt.Code = 400304
	CodeBadAmount      prompt.Code = 400305
	CodeReverseTooLate prompt.Code = 400306
	CodeMerchantQR     prompt.Code = 400307

	CodeBatchTooLarge prompt.Code = 400401
)

// byMsgCode gives the platform msgCodes with a prompt of their own.
var byMsgCode = map[string]prompt.Code{
	protocol.CodeBadRequest: CodeProtocol, protocol.CodeBadSignature: CodeProtocol, protocol.CodeNoChannel: CodeProtocol,
	protocol.CodeNoService: CodeProtocol, protocol.CodeBadCiphertext: CodeProtocol,
	protocol.CodeStaleTimestamp: CodeClock, protocol.CodeBusy: CodeBusy, protocol.CodeMaintenance: CodeBusy,
	protocol.CodeReplay: CodeUnknownOutcome, protocol.CodeSystemError: CodeUnknownOutcome,

	protocol.CodePersonUnknown: CodePersonUnknown, protocol.CodeCardUnknown: CodeCardUnknown,
	protocol.CodeCardLost: CodeCardLost, protocol.CodeCardAbnormal: CodeCardAbnormal,
	protocol.CodeCardMismatch: CodeCardMismatch, protocol.CodeCardAuthFailed: CodeCardAuthFailed,
	protocol.CodeCardExpired: CodeCardExpired, protocol.CodeHSMNotSupported: CodeHSMRefused,
	protocol.CodeHSMBadStep1: CodeHSMRefused,

	protocol.CodeQRInvalid: CodeQRInvalid, protocol.CodeQRExpired: CodeQRExpired, protocol.CodeQRUsed: CodeQRUsed,
	protocol.CodeECardAbnormal: CodeECardAbnormal,

	protocol.CodePayNotEnabled: CodePayNotEnabled, protocol.CodeOrderConflict: CodeOrderConflict,
	protocol.CodeOrderNotFound: CodeOrderNotFound, protocol.CodeOrderClosed: CodeOrderClosed,
	protocol.CodeBadAmount: CodeBadAmount, protocol.CodeReverseTooLate: CodeReverseTooLate,
	protocol.CodeMerchantUnknown: CodeMerchantQR,

	protocol.CodeBatchTooLarge: CodeBatchTooLarge,
}

// PromptFor returns the prompt code for the error of a call (0 for nil): the msgCode's
// own prompt when the platform answered, else one per class.
func PromptFor(err error) prompt.Code {
	if err == nil {
		return 0
	}
	var e *Error
	if !errors.As(err, &e) {
		return CodeSetup
	}
	if e.MsgCode != "" {
		if c, ok := byMsgCode[e.MsgCode]; ok {
			return c
		}
	}
	switch {
	case errors.Is(err, ErrStaleTimestamp):
		return CodeClock
	case errors.Is(err, ErrInvalidRequest):
		return CodeInvalidRequest
	}
	switch e.Class {
	case ClassRetryable:
		if e.MsgCode != "" {
			return CodeBusy
		}
		return CodeUnreachable
	case ClassUnknown:
		return CodeUnknownOutcome
	case ClassUnverified:
		return CodeUnverified
	}
	return CodeRejected
}

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	busy := t("系统繁忙，请稍后再试", "The system is busy, please try again later")
	staff := t("业务暂时无法办理，请联系工作人员", "This service is not available right now, please ask staff for help")
	card := t("您的社会保障卡暂不能使用，请到社保服务网点咨询", "Your social security card cannot be used, please ask at a social security service office")
	code := t("二维码无效，请刷新电子社会保障卡二维码后重试", "The code is not valid, please refresh your e-card code and try again")
	payFail := t("支付未成功，未扣款，请重新支付", "The payment did not go through and nothing was charged, please pay again")
	prompt.Register(
		prompt.Message{Code: CodeUnreachable, Holder: busy,
			Operator:   t("无法连接一卡通应用平台，请检查网络后重试", "Cannot reach the one-card-pass platform; check the network and retry"),
			Maintainer: t("请求未发出：连接、域名解析、TLS 或发送前超时", "Request not sent: connect, DNS, TLS or timeout before sending")},
		prompt.Message{Code: CodeBusy, Holder: busy,
			Operator:   t("一卡通应用平台繁忙或维护中，请稍后重试", "The platform is busy or under maintenance; retry later"),
			Maintainer: t("平台应答系统繁忙或维护中，未受理", "Platform answered busy or maintenance; nothing was done")},
		// Nothing is queried on this outcome (an authentication has no query; payments and
		// refunds, which do query, show their own "confirming" prompts while they do):
		// the texts say what is true, that the result is not known.
		prompt.Message{Code: CodeUnknownOutcome, Holder: t("未收到办理结果，请重新办理或联系工作人员", "No result came back, please try again or ask staff"),
			Operator:   t("请求已发出但未收到有效应答，平台可能已处理，结果未知且未查询；认证可请持卡人重新办理，涉及资金的请核实后再处理", "Request sent but no valid answer; the platform may have acted; the result is unknown and not queried: an authentication may be repeated, check anything involving money first"),
			Maintainer: t("请求已发出，应答超时、连接中断或 HTTP 错误，平台可能已处理", "Request sent; timeout, reset or HTTP error before a valid answer; the platform may have acted")},
		prompt.Message{Code: CodeUnverified, Holder: staff,
			Operator:   t("平台应答未通过安全校验，结果不可信，未按其办理，请联系维护人员", "The platform's answer failed the security checks; it is not trusted and was not acted on: call maintenance"),
			Maintainer: t("应答验签失败、请求编号不符、时间戳超出窗口或格式错误，可能被篡改", "Answer failed signature, requestId echo, timestamp window or format checks; possibly forged")},
		prompt.Message{Code: CodeRejected, Holder: t("业务办理失败，请联系工作人员", "The request was declined, please ask staff for help"),
			Operator:   t("平台拒绝受理，请根据平台返回信息处理", "The platform declined; act on its message"),
			Maintainer: t("平台返回业务拒绝（未收录的响应码）", "Business rejection with a msgCode not in the table")},
		prompt.Message{Code: CodeInvalidRequest, Holder: t("信息有误，请核对后重新办理", "Some information is wrong, please check and try again"),
			Operator:   t("请求参数有误，未发送，请核对输入", "Invalid parameters; nothing was sent; check the input"),
			Maintainer: t("入参格式错误，终端未发送请求", "Malformed parameters; the terminal did not send the request")},
		prompt.Message{Code: CodeClock, Holder: busy,
			Operator:   t("终端时间与平台相差过大，请联系维护人员校准时间", "The terminal's clock is far from the platform's; call maintenance to set it"),
			Maintainer: t("时间戳超出平台允许范围，请检查 NTP 同步", "Timestamp outside the platform's window; check NTP")},
		prompt.Message{Code: CodeSetup, Holder: staff,
			Operator:   t("终端平台接入配置有误，请联系维护人员", "The terminal's platform settings are wrong; call maintenance"),
			Maintainer: t("平台客户端无法启动：密钥文件、测试密钥或 TLS 证书错误", "Platform client cannot start: key files, test keys or TLS files")},
		prompt.Message{Code: CodeProtocol, Holder: staff,
			Operator:   t("平台拒绝终端请求（接入参数不符），请联系维护人员", "The platform refused the terminal's request form; call maintenance"),
			Maintainer: t("平台拒绝：签名、渠道编号、服务授权或加密参数与平台不符", "Platform refused the signature, channel, service grant or encryption settings")},

		prompt.Message{Code: CodePersonUnknown, Holder: t("未查询到您的参保信息，请到社保服务网点咨询", "No record of you was found, please ask at a social security service office"),
			Operator:   t("平台无此人员信息", "Person not registered on the platform"),
			Maintainer: t("平台返回人员信息不存在", "Platform: person not registered")},
		prompt.Message{Code: CodeCardUnknown, Holder: card,
			Operator:   t("平台无此卡信息，请持卡人到社保服务网点咨询", "Card not registered; send the holder to a service office"),
			Maintainer: t("平台返回卡片信息不存在", "Platform: card not registered")},
		prompt.Message{Code: CodeCardLost, Holder: t("您的社会保障卡已挂失，暂不能使用", "Your social security card is reported lost and cannot be used"),
			Operator:   t("此卡已挂失，请收回或引导持卡人办理解挂/补卡", "Card reported lost; keep it or guide the holder to unblock or replace it"),
			Maintainer: t("平台返回卡片已挂失", "Platform: card reported lost")},
		prompt.Message{Code: CodeCardAbnormal, Holder: card,
			Operator:   t("卡片状态异常（冻结或注销），请持卡人到网点处理", "Card frozen or cancelled; send the holder to a service office"),
			Maintainer: t("平台返回卡片状态异常", "Platform: card not in normal status")},
		prompt.Message{Code: CodeCardMismatch, Holder: card,
			Operator:   t("卡片信息与登记信息不符，请核实", "Card data does not match the registry; check it"),
			Maintainer: t("平台返回卡片信息与登记信息不符", "Platform: card data does not match the registry")},
		prompt.Message{Code: CodeCardAuthFailed, Holder: card,
			Operator:   t("卡片内部认证失败，可能为非法卡", "Card internal authentication failed; the card may not be genuine"),
			Maintainer: t("平台返回卡片内部认证失败", "Platform: card internal authentication failed")},
		prompt.Message{Code: CodeCardExpired, Holder: t("您的社会保障卡已过有效期，请到网点换卡", "Your social security card has expired, please renew it at a service office"),
			Operator:   t("卡片已过有效期", "Card expired"),
			Maintainer: t("平台返回卡片已过有效期", "Platform: card expired")},
		prompt.Message{Code: CodeHSMRefused, Holder: staff,
			Operator:   t("平台加密机认证不可用，请使用 PSAM 卡或联系维护人员", "Platform HSM authentication unavailable; use a PSAM or call maintenance"),
			Maintainer: t("平台拒绝加密机认证请求（未开通或数据格式错误）", "Platform refused the HSM step (not offered or malformed step-1 data)")},

		prompt.Message{Code: CodeQRInvalid, Holder: code,
			Operator:   t("电子社保卡二维码无效，请持卡人刷新后重扫", "Invalid e-card code; ask the holder to refresh it and scan again"),
			Maintainer: t("平台返回二维码无效", "Platform: invalid e-card code")},
		prompt.Message{Code: CodeQRExpired, Holder: code,
			Operator:   t("电子社保卡二维码已过期，请持卡人刷新后重扫", "E-card code expired; ask the holder to refresh it"),
			Maintainer: t("平台返回二维码已过期", "Platform: e-card code expired")},
		prompt.Message{Code: CodeQRUsed, Holder: code,
			Operator:   t("电子社保卡二维码已使用，请持卡人刷新后重扫", "E-card code already used; ask the holder to refresh it"),
			Maintainer: t("平台返回二维码已使用", "Platform: e-card code already used")},
		prompt.Message{Code: CodeECardAbnormal, Holder: t("您的电子社会保障卡状态异常，请在电子社保卡渠道查看", "Your e-card is not active, please check it in the e-card app"),
			Operator:   t("电子社保卡状态异常", "E-card not active"),
			Maintainer: t("平台返回电子社会保障卡状态异常", "Platform: e-card not active")},

		prompt.Message{Code: CodePayNotEnabled, Holder: t("您的电子社会保障卡未开通支付功能，请换用其他方式支付", "Payment is not enabled on your e-card, please pay another way"),
			Operator:   t("该电子社保卡未开通支付（一级签发），请更换支付方式", "E-card not enabled for payment (一级签发); use another payment method"),
			Maintainer: t("平台返回未开通支付结算功能", "Platform: payment not enabled")},
		prompt.Message{Code: CodeOrderConflict, Holder: payFail,
			Operator:   t("订单号重复，请重新发起收款", "Order number already used; start a new collection"),
			Maintainer: t("平台返回订单号重复（订单号已用于其他参数）", "Platform: order number already used with other parameters")},
		prompt.Message{Code: CodeOrderNotFound, Holder: t("正在确认支付结果，请稍候", "Confirming the payment, please wait"),
			Operator:   t("平台无此订单", "Order not found on the platform"),
			Maintainer: t("平台返回订单不存在", "Platform: order not found")},
		prompt.Message{Code: CodeOrderClosed, Holder: payFail,
			Operator:   t("订单已关闭或已撤销，请重新发起收款", "Order closed or reversed; start a new collection"),
			Maintainer: t("平台返回订单已关闭或已撤销", "Platform: order closed or reversed")},
		prompt.Message{Code: CodeBadAmount, Holder: payFail,
			Operator:   t("金额不合法，请核对金额", "Invalid amount; check it"),
			Maintainer: t("平台返回金额不合法", "Platform: invalid amount")},
		prompt.Message{Code: CodeReverseTooLate, Holder: staff,
			Operator:   t("订单已超过可撤销期限，请走退款流程", "Too late to reverse; use a refund"),
			Maintainer: t("平台返回超过可撤销期限", "Platform: too late to reverse")},
		prompt.Message{Code: CodeMerchantQR, Holder: t("收款码已失效，请重新生成", "The payment code has expired, please ask for a new one"),
			Operator:   t("商户二维码无效或已过期，请重新生成", "Merchant code invalid or expired; create a new one"),
			Maintainer: t("平台返回商户二维码无效", "Platform: merchant code unknown or expired")},

		prompt.Message{Code: CodeBatchTooLarge, Holder: busy,
			Operator:   t("回流数据批量过大，将分批重传", "Backflow batch too large; it is sent again in smaller batches"),
			Maintainer: t("平台返回回流数据批量过大", "Platform: backflow batch too large")},
	)
}

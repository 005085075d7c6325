package protocol

import "slices"

// CodeKind says what a response's msgCode means for the caller. The client maps kinds
// to its outcome classes; docs/platform-protocol.md has the table.
type CodeKind uint8

// Kinds of msgCode.
const (
	// KindSuccess: the platform did what was asked.
	KindSuccess CodeKind = iota + 1
	// KindRejected: a business or protocol rejection. The platform did nothing and the
	// same request can never succeed; do not retry.
	KindRejected
	// KindRetryLater: the platform did nothing and asks to try again later.
	KindRetryLater
	// KindUnknown: the platform may have acted (a system error during processing, or a
	// replay of our own requestId, which means a copy of our request reached it first).
	KindUnknown
	// KindStaleTime: the request's timestamp is outside the platform's window. Nothing
	// was done; correct the clock from the (signed) response time and send again with a
	// new requestId.
	KindStaleTime
)

var kindNames = [...]string{KindSuccess: "success", KindRejected: "rejected", KindRetryLater: "retry-later",
	KindUnknown: "unknown", KindStaleTime: "stale-timestamp"}

func (k CodeKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind?"
}

// MsgCode is one entry of the msgCode table.
type MsgCode struct {
	Code string
	Kind CodeKind
	// ZH is the platform's msg text; EN its translation.
	ZH, EN string
}

// MsgCodes of the sandbox platform and the client's default table.
const (
	CodeOK = "000000"

	// Protocol (9xxxxx).
	CodeBadRequest     = "900001"
	CodeBadSignature   = "900002"
	CodeStaleTimestamp = "900003"
	CodeReplay         = "900004"
	CodeNoChannel      = "900005"
	CodeNoService      = "900006"
	CodeBadCiphertext  = "900007"
	CodeBusy           = "900008"
	CodeMaintenance    = "900009"
	CodeSystemError    = "999999"

	// Persons and physical cards (1xxxxx).
	CodePersonUnknown   = "100001"
	CodeCardUnknown     = "100002"
	CodeCardLost        = "100003"
	CodeCardAbnormal    = "100004"
	CodeCardMismatch    = "100005"
	CodeCardAuthFailed  = "100006"
	CodeCardExpired     = "100007"
	CodeHSMNotSupported = "100008"
	CodeHSMBadStep1     = "100009"

	// Electronic cards (2xxxxx).
	CodeQRInvalid     = "200001"
	CodeQRExpired     = "200002"
	CodeQRUsed        = "200003"
	CodeECardAbnormal = "200004"

	// Payments (3xxxxx).
	CodePayNotEnabled   = "300001"
	CodeOrderConflict   = "300002"
	CodeOrderNotFound   = "300003"
	CodeOrderClosed     = "300004"
	CodeBadAmount       = "300005"
	CodeReverseTooLate  = "300006"
	CodeMerchantUnknown = "300007"
	CodeOrderNotPaid    = "300008"
	CodeRefundTooMuch   = "300009"
	CodeRefundConflict  = "300010"
	CodeRefundNotFound  = "300011"

	// Backflow (4xxxxx).
	CodeBatchTooLarge = "400001"
)

var msgCodes = []MsgCode{
	{CodeOK, KindSuccess, "成功", "success"},

	{CodeBadRequest, KindRejected, "入参格式错误", "invalid request parameters"},
	{CodeBadSignature, KindRejected, "签名验证失败", "signature verification failed"},
	{CodeStaleTimestamp, KindStaleTime, "时间戳超出允许范围", "timestamp outside the accepted window"},
	{CodeReplay, KindUnknown, "重复的请求编号", "requestId already used (replay)"},
	{CodeNoChannel, KindRejected, "渠道未注册或未授权", "channel unknown or not authorised"},
	{CodeNoService, KindRejected, "服务不存在或未授权", "service unknown or not authorised for the channel"},
	{CodeBadCiphertext, KindRejected, "敏感数据解密失败", "sensitive field does not decrypt"},
	{CodeBusy, KindRetryLater, "系统繁忙，请稍后再试", "system busy, try again later"},
	{CodeMaintenance, KindRetryLater, "系统维护中，请稍后再试", "system under maintenance, try again later"},
	{CodeSystemError, KindUnknown, "系统异常", "system error"},

	{CodePersonUnknown, KindRejected, "人员信息不存在", "person not registered"},
	{CodeCardUnknown, KindRejected, "卡片信息不存在", "card not registered"},
	{CodeCardLost, KindRejected, "卡片已挂失", "card reported lost"},
	{CodeCardAbnormal, KindRejected, "卡片状态异常", "card not in normal status"},
	{CodeCardMismatch, KindRejected, "卡片信息与登记信息不符", "card data does not match the registry"},
	{CodeCardAuthFailed, KindRejected, "卡片内部认证失败", "card internal authentication failed"},
	{CodeCardExpired, KindRejected, "卡片已过有效期", "card expired"},
	{CodeHSMNotSupported, KindRejected, "不支持加密机认证", "HSM authentication not offered"},
	{CodeHSMBadStep1, KindRejected, "加密机认证数据格式错误", "malformed HSM step-1 data"},

	{CodeQRInvalid, KindRejected, "二维码无效", "invalid e-card code"},
	{CodeQRExpired, KindRejected, "二维码已过期", "e-card code expired"},
	{CodeQRUsed, KindRejected, "二维码已使用", "e-card code already used"},
	{CodeECardAbnormal, KindRejected, "电子社会保障卡状态异常", "e-card not active"},

	{CodePayNotEnabled, KindRejected, "未开通支付结算功能", "payment not enabled for this e-card"},
	{CodeOrderConflict, KindRejected, "订单号重复", "order number already used with other parameters"},
	{CodeOrderNotFound, KindRejected, "订单不存在", "order not found"},
	{CodeOrderClosed, KindRejected, "订单已关闭或已撤销", "order closed or reversed"},
	{CodeBadAmount, KindRejected, "金额不合法", "invalid amount"},
	{CodeReverseTooLate, KindRejected, "超过可撤销期限", "too late to reverse"},
	{CodeMerchantUnknown, KindRejected, "商户二维码无效", "merchant code unknown or expired"},
	{CodeOrderNotPaid, KindRejected, "订单未支付成功，不能退款", "order not paid: nothing to refund"},
	{CodeRefundTooMuch, KindRejected, "退款金额超过可退金额", "refund above what is left to refund"},
	{CodeRefundConflict, KindRejected, "退款单号重复", "refund number already used with other parameters"},
	{CodeRefundNotFound, KindRejected, "退款不存在", "refund not found"},

	{CodeBatchTooLarge, KindRejected, "回流数据批量过大", "backflow batch too large"},
}

// LookupMsgCode returns the table entry of code.
func LookupMsgCode(code string) (MsgCode, bool) {
	i := slices.IndexFunc(msgCodes, func(m MsgCode) bool { return m.Code == code })
	if i < 0 {
		return MsgCode{}, false
	}
	return msgCodes[i], true
}

// MsgCodeTable returns a copy of the whole table, in documentation order.
func MsgCodeTable() []MsgCode { return slices.Clone(msgCodes) }

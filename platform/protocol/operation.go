package protocol

import (
	"slices"

	"github.com/sscagent/sscagent/internal/mask"
)

// Op names an operation (a service of the platform).
type Op string

// Operations. The names are also the keys of platform.operations in the configuration
// and the OPERATION argument of "sscagent platform call".
const (
	OpCardAuth         Op = "cardAuth"         // 实体社会保障卡鉴权
	OpCardInternalAuth Op = "cardInternalAuth" // 卡内部认证 (加密机两步法)
	OpECardDecode      Op = "ecardDecode"      // 电子社会保障卡二维码解码认证
	OpMicropay         Op = "micropay"         // 电子社会保障卡被扫支付
	OpOrderQuery       Op = "orderQuery"       // 订单查询
	OpReverse          Op = "reverse"          // 撤销
	OpMerchantQR       Op = "merchantQR"       // 主扫支付商户二维码
	OpBackflow         Op = "backflow"         // 数据回流
	OpRefund           Op = "refund"           // 退款
	OpRefundQuery      Op = "refundQuery"      // 退款查询
)

// Field describes one parameter of an operation's data or result.
type Field struct {
	// Path is the JSON name, or "list[].name" for a field of a list's elements.
	Path Path
	// ZH is the parameter's Chinese name.
	ZH string
	// Required marks parameters that must be present and non-empty.
	Required bool
	// Sensitive is the masking rule of a personal datum or secret; a sensitive field
	// travels SM4-encrypted and is masked wherever it is shown. Zero: not sensitive.
	Sensitive mask.Kind
	// Doc says what the value is and its format.
	Doc string
	// Value is the kind of value whose format the profile chooses (profile.values);
	// zero: a value that travels verbatim.
	Value ValueKind
}

// ValueKind is a kind of value whose wire format a profile chooses.
type ValueKind uint8

// Value kinds.
const (
	// ValueDate is a date, internally YYYYMMDD (profile.values.date).
	ValueDate ValueKind = iota + 1
	// ValueAmount is an amount, internally yuan with two decimals (profile.values.amount).
	ValueAmount
)

// Operation is one service: its default path and its parameters.
type Operation struct {
	Op Op
	// ZH is the service's Chinese name.
	ZH string
	// Path is the default path below the platform's base URL.
	Path string
	// Data and Result list the parameters of the request's data and the response's
	// result (besides the common ones every request carries, CommonFields).
	Data, Result []Field
}

// Sensitive returns the paths of the sensitive fields of a parameter list.
func Sensitive(fs []Field) []Path {
	var out []Path
	for _, f := range fs {
		if f.Sensitive != 0 {
			out = append(out, f.Path)
		}
	}
	return out
}

// CommonFields are added by the client to the data of every request.
var CommonFields = []Field{
	{Path: "terminalId", ZH: "终端唯一识别码", Required: true, Doc: "the terminal's registered id (terminal.id), 1-32 letters, digits or '-'"},
	{Path: "serviceCode", ZH: "服务编码", Doc: "the operation's service code when the platform needs one (platform.operations.OP.serviceCode); absent otherwise"},
}

// Trade states carried by the payment operations.
const (
	TradeSuccess    = "SUCCESS"    // paid
	TradeUserPaying = "USERPAYING" // waiting for the holder (password); query again
	TradeFailed     = "FAILED"     // declined; nothing was charged; a new attempt needs a new order number
	TradeNotPay     = "NOTPAY"     // created (merchant code shown), not paid yet
	TradeReversed   = "REVERSED"   // paid, then reversed: the money went back
	TradeClosed     = "CLOSED"     // closed unpaid (reversed before payment, or expired); can never succeed
)

// Refund states carried by the refund operations.
const (
	RefundSuccess    = "SUCCESS"    // the money went back to the holder
	RefundProcessing = "PROCESSING" // accepted, not finished: query again
	RefundFailed     = "FAILED"     // declined; nothing was refunded; a new attempt needs a new refund number
)

// Backflow record statuses carried by results[].status.
const (
	RecordAccepted  = "accepted"  // stored
	RecordDuplicate = "duplicate" // already stored under this recordId: counts as accepted
	RecordRejected  = "rejected"  // refused, with reason; sending it again cannot help
)

var (
	fOrderNo  = Field{Path: "orderNo", ZH: "订单号", Required: true, Doc: "the terminal's order number: terminal id + counter, 1-32 letters, digits, '-' or '_'; the same for every retry, query and reversal of one attempt"}
	fTrade    = Field{Path: "tradeState", ZH: "交易状态", Required: true, Doc: "SUCCESS | USERPAYING | FAILED | NOTPAY | REVERSED | CLOSED"}
	fTradeNo  = Field{Path: "tradeNo", ZH: "平台交易流水号", Doc: "the platform's transaction number, once the order is paid"}
	fAmount   = Field{Path: "amount", ZH: "交易金额", Value: ValueAmount, Doc: "yuan with exactly two decimals, e.g. \"12.50\""}
	fPaidTime = Field{Path: "paidTime", ZH: "支付完成时间", Doc: "YYYY-MM-DD HH:MM:SS (Beijing time) when the order was paid"}
	fFail     = Field{Path: "failReason", ZH: "失败原因", Doc: "why a FAILED order was declined"}
	fPayerID  = Field{Path: "idNumber", ZH: "付款人社会保障号码", Sensitive: mask.KindIDNumber, Doc: "the payer, once the order is paid (for the C.4 record)"}
	fPayer    = Field{Path: "name", ZH: "付款人姓名", Sensitive: mask.KindName, Doc: "the payer's name, once paid"}
	fRefundNo = Field{Path: "refundNo", ZH: "退款单号", Required: true, Doc: "the terminal's refund number: 1-32 letters, digits, '-' or '_'; the same for every retry and query of one refund, never reused"}
	fQR       = Field{Path: "qrCode", ZH: "电子社会保障卡二维码", Required: true, Sensitive: mask.KindSecret, Doc: "the scanned e-card code, verbatim; single use"}
)

var operations = []Operation{
	{
		Op: OpCardAuth, ZH: "实体社会保障卡鉴权", Path: "/api/v1/card/auth",
		Data: []Field{
			{Path: "idNumber", ZH: "社会保障号码", Required: true, Sensitive: mask.KindIDNumber, Doc: "18 characters, GB 11643"},
			{Path: "name", ZH: "姓名", Sensitive: mask.KindName, Doc: "as read from the card (EF06 09 + 4E)"},
			{Path: "cardNo", ZH: "卡号", Required: true, Doc: "9 characters (EF05 07)"},
			{Path: "cardId", ZH: "卡识别码", Required: true, Doc: "32 characters (EF05 01)"},
			{Path: "regionCode", ZH: "发卡地区行政区划代码", Doc: "6 digits, the first six of the card identifier"},
			{Path: "cardVersion", ZH: "规范版本", Doc: "e.g. \"3.00\" (EF05 03)"},
			{Path: "atr", ZH: "卡复位信息", Doc: "historical bytes of the ATR, hex"},
			{Path: "expiryDate", ZH: "卡有效期", Value: ValueDate, Doc: "YYYYMMDD (EF05 06)"},
			{Path: "authMode", ZH: "卡认证方式", Doc: "how the terminal authenticated the card: psam | hsm | none"},
		},
		Result: []Field{
			{Path: "cardStatus", ZH: "卡状态", Required: true, Doc: "normal (any other state is a rejection msgCode)"},
			{Path: "name", ZH: "姓名", Sensitive: mask.KindName, Doc: "the registered name"},
			{Path: "regionCode", ZH: "参保地行政区划代码", Doc: "6 digits"},
			{Path: "expiryDate", ZH: "卡有效期", Value: ValueDate, Doc: "YYYYMMDD"},
		},
	},
	{
		Op: OpCardInternalAuth, ZH: "卡内部认证（加密机）", Path: "/api/v1/card/internal-auth",
		Data: []Field{
			{Path: "step1", ZH: "加密机认证第一步数据", Required: true, Doc: "the iReadCardBas_HSM_Step1 output string, '|'-separated"},
			{Path: "deviceNo", ZH: "终端设备号", Doc: "the reader's 32-character device number, when known"},
		},
		Result: []Field{
			{Path: "pKey", ZH: "加密机认证结果", Required: true, Doc: "the iReadCardBas_HSM_Step2 pKey string"},
		},
	},
	{
		Op: OpECardDecode, ZH: "电子社会保障卡二维码解码认证", Path: "/api/v1/ecard/decode",
		Data: []Field{
			fQR,
			{Path: "businessType", ZH: "业务类型", Doc: "01 查询 | 02 缴费支付 | 03 其他 | 04 异地就医"},
		},
		Result: []Field{
			{Path: "idNumber", ZH: "社会保障号码", Required: true, Sensitive: mask.KindIDNumber, Doc: "the holder"},
			{Path: "name", ZH: "姓名", Required: true, Sensitive: mask.KindName, Doc: "the holder's name"},
			{Path: "regionCode", ZH: "签发地行政区划代码", Doc: "6 digits"},
			{Path: "signLevel", ZH: "签发级别", Required: true, Doc: "1 一级签发 (identity only) | 2 二级签发 (payment enabled)"},
			{Path: "cardNo", ZH: "卡号", Doc: "the holder's physical card, if any"},
		},
	},
	{
		Op: OpMicropay, ZH: "电子社会保障卡被扫支付", Path: "/api/v1/pay/micropay",
		Data: []Field{
			fOrderNo,
			{Path: "amount", ZH: "交易金额", Required: true, Value: ValueAmount, Doc: "yuan with exactly two decimals, 0.01-99999999.99"},
			fQR,
			{Path: "subject", ZH: "商品描述", Required: true, Doc: "what is paid for, at most 120 characters"},
			{Path: "payType", ZH: "支付结算类型", Doc: "table C.10 code, e.g. 01 普通消费/缴费支付"},
		},
		Result: []Field{fOrderNo, fTrade, fTradeNo, fAmount, fPaidTime, fFail, fPayerID, fPayer},
	},
	{
		Op: OpOrderQuery, ZH: "订单查询", Path: "/api/v1/pay/query",
		Data:   []Field{fOrderNo},
		Result: []Field{fOrderNo, fTrade, fTradeNo, fAmount, fPaidTime, fFail, fPayerID, fPayer},
	},
	{
		Op: OpReverse, ZH: "撤销订单", Path: "/api/v1/pay/reverse",
		Data: []Field{fOrderNo},
		Result: []Field{fOrderNo, fTrade,
			{Path: "recall", ZH: "是否需要继续调用撤销", Required: true, Doc: "Y: the reversal is not finished, call reverse again (same order number) | N: done"},
			{Path: "action", ZH: "撤销动作", Doc: "close (was unpaid) | refund (was paid; the money went back)"},
		},
	},
	{
		Op: OpMerchantQR, ZH: "主扫支付商户二维码", Path: "/api/v1/pay/merchant-qr",
		Data: []Field{
			fOrderNo,
			{Path: "amount", ZH: "交易金额", Value: ValueAmount, Doc: "yuan with two decimals; absent: the holder enters the amount"},
			{Path: "subject", ZH: "商品描述", Required: true, Doc: "at most 120 characters"},
			{Path: "expireSeconds", ZH: "二维码有效期（秒）", Doc: "60-3600, default 300"},
		},
		Result: []Field{fOrderNo,
			{Path: "qrContent", ZH: "商户二维码内容", Required: true, Doc: "the text to show as a QR code"},
			{Path: "expireTime", ZH: "二维码失效时间", Required: true, Doc: "YYYY-MM-DD HH:MM:SS"},
		},
	},
	{
		Op: OpBackflow, ZH: "数据回流", Path: "/api/v1/backflow/submit",
		Data: []Field{
			{Path: "records[].recordId", ZH: "记录编号", Required: true, Doc: "stable id: terminal id + sequence; the platform de-duplicates on it"},
			{Path: "records[].kind", ZH: "记录类型", Required: true, Doc: "credential (C.3 办事凭证) | payment (C.4 支付结算) | benefit (C.5 待遇发放)"},
			{Path: "records[].record", ZH: "记录内容", Required: true, Sensitive: mask.KindSecret, Doc: "the record as JSON text (docs/records.md)"},
		},
		Result: []Field{
			{Path: "results[].recordId", ZH: "记录编号", Required: true, Doc: "one element per submitted record"},
			{Path: "results[].status", ZH: "处理结果", Required: true, Doc: "accepted | duplicate (already stored: counts as accepted) | rejected"},
			{Path: "results[].reason", ZH: "拒绝原因", Doc: "why a record was rejected"},
		},
	},
	{
		Op: OpRefund, ZH: "退款", Path: "/api/v1/pay/refund",
		Data: []Field{fOrderNo, fRefundNo,
			{Path: "amount", ZH: "退款金额", Required: true, Value: ValueAmount, Doc: "yuan with exactly two decimals; with the order's earlier refunds at most what was paid"},
			{Path: "reason", ZH: "退款原因", Doc: "at most 80 characters"},
			{Path: "operatorId", ZH: "操作员编号", Required: true, Doc: "who ordered the refund, 1-32 letters, digits, '-' or '_'"},
		},
		Result: refundResult,
	},
	{
		Op: OpRefundQuery, ZH: "退款查询", Path: "/api/v1/pay/refund-query",
		Data:   []Field{fOrderNo, fRefundNo},
		Result: refundResult,
	},
}

// refundResult is the result of refund and refundQuery.
var refundResult = []Field{fOrderNo, fRefundNo,
	{Path: "refundState", ZH: "退款状态", Required: true, Doc: "SUCCESS | PROCESSING (query again) | FAILED (nothing refunded)"},
	{Path: "amount", ZH: "退款金额", Value: ValueAmount, Doc: "yuan with exactly two decimals: this refund"},
	{Path: "refundedTotal", ZH: "累计退款金额", Value: ValueAmount, Doc: "yuan with exactly two decimals: every successful refund of the order, this one included"},
	{Path: "refundTime", ZH: "退款完成时间", Doc: "YYYY-MM-DD HH:MM:SS (Beijing time), once SUCCESS"},
	{Path: "failReason", ZH: "失败原因", Doc: "why a FAILED refund was declined"},
}

// MaxBackflowBatch is the most records one backflow request may carry.
const MaxBackflowBatch = 100

// Operations returns every operation, in documentation order.
func Operations() []Operation { return slices.Clone(operations) }

// LookupOp returns the operation named op.
func LookupOp(op Op) (Operation, bool) {
	i := slices.IndexFunc(operations, func(o Operation) bool { return o.Op == op })
	if i < 0 {
		return Operation{}, false
	}
	return operations[i], true
}

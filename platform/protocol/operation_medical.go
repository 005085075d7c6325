package protocol

// The medical settlement operations (7.2.5 c, the HSM variant of the DF04 purse: the
// national iDoDebit_HSM_Step1/Step2 with the 持卡库 services 卡鉴权及消费交易认证 and
// 消费交易结算验证, reference/domain.md §3.5 and §4.1). They join the operation table at
// package initialisation, after the operations of operation.go.
const (
	OpMedicalPurchaseAuth   Op = "medicalPurchaseAuth"   // 卡鉴权及消费交易认证 (MAC1)
	OpMedicalPurchaseVerify Op = "medicalPurchaseVerify" // 消费交易结算验证 (MAC2, TAC)
)

// CodePurchaseMAC: the card's MAC2 or TAC does not verify (the platform refuses the
// settlement).
const CodePurchaseMAC = "100010"

var purchaseFields = []Field{
	{Path: "cardId", ZH: "卡识别码", Required: true, Doc: "32 characters (EF05 01): the card key's region and factors"},
	{Path: "atr", ZH: "卡复位信息", Required: true, Doc: "historical bytes of the ATR, hex (the card factor)"},
	{Path: "algorithm", ZH: "算法标识", Required: true, Doc: "01 DES | 03 SM4 (the card's)"},
	{Path: "cardRandom", ZH: "伪随机数", Required: true, Doc: "8 hex digits from INITIALIZE FOR PURCHASE"},
	{Path: "cardSeq", ZH: "医疗消费交易序号", Required: true, Doc: "4 hex digits from INITIALIZE FOR PURCHASE"},
	{Path: "keyVersion", ZH: "密钥版本", Doc: "2 hex digits from INITIALIZE FOR PURCHASE"},
	{Path: "accountPay", ZH: "个人账户支付", Required: true, Value: ValueAmount, Doc: "YKA065, yuan with two decimals"},
	{Path: "selfPay", ZH: "个人自付", Required: true, Value: ValueAmount, Doc: "YKA131, yuan with two decimals"},
	{Path: "fundPay", ZH: "统筹基金支付", Required: true, Value: ValueAmount, Doc: "YKA130, yuan with two decimals"},
	{Path: "transType", ZH: "交易类型", Required: true, Doc: "AAD032: 2 医疗结算"},
	{Path: "terminalNo", ZH: "终端机编号", Required: true, Doc: "12 digits (PSAM file 0016, or 000000000000 without a PSAM)"},
	{Path: "transTime", ZH: "交易时间", Required: true, Doc: "AAE036, YYYYMMDDHHMMSS (Beijing time), as the card gets it"},
}

var fTerminalSeq = Field{Path: "terminalSeq", ZH: "终端交易序号", Required: true, Doc: "8 hex digits: the HSM's 终端交易序号 for DEBIT FOR PURCHASE"}

var medicalOperations = []Operation{
	{
		Op: OpMedicalPurchaseAuth, ZH: "卡鉴权及消费交易认证", Path: "/api/v1/medical/purchase-auth",
		Data: purchaseFields,
		Result: []Field{fTerminalSeq,
			{Path: "mac1", ZH: "MAC1", Required: true, Doc: "8 hex digits, for DEBIT FOR PURCHASE"},
		},
	},
	{
		Op: OpMedicalPurchaseVerify, ZH: "消费交易结算验证", Path: "/api/v1/medical/purchase-verify",
		Data: append(append([]Field{}, purchaseFields...), fTerminalSeq,
			Field{Path: "mac2", ZH: "MAC2", Required: true, Doc: "8 hex digits, the card's answer to DEBIT FOR PURCHASE"},
			Field{Path: "tac", ZH: "交易验证码TAC", Required: true, Doc: "8 hex digits, the card's answer to DEBIT FOR PURCHASE"},
		),
		Result: []Field{
			{Path: "verified", ZH: "验证结果", Required: true, Doc: "Y: MAC2 and TAC verify (a mismatch is msgCode 100010)"},
		},
	},
}

func init() {
	operations = append(operations, medicalOperations...)
	msgCodes = append(msgCodes, MsgCode{CodePurchaseMAC, KindRejected, "消费交易MAC2或TAC校验失败", "purchase MAC2 or TAC does not verify"})
}

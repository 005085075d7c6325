package records

import "github.com/sscagent/sscagent/internal/mask"

// Payment is a 支付结算数据 record (C.3.2, table C.4): the holder paid or settled with
// the card's bank account or the e-card. Every value is a string, as on the wire (spec
// 8.1.1.1 d); "" is an absent optional field.
type Payment struct {
	// AccessNo is 接入编号. n12, required. "010122310011".
	AccessNo string `json:"accessNo,omitempty"`
	// BusinessSerialNo is 业务流水号: the case or transaction serial number the serving
	// system returned. ..ul, optional.
	BusinessSerialNo string `json:"businessSerialNo,omitempty"`
	// RegionCode is 行政区划代码 (GB/T 2260). n6, required. "131000".
	RegionCode string `json:"regionCode,omitempty"`
	// CardType is 用卡类型: "如：电子社会保障卡、实体社会保障卡" (an open list: other values
	// are accepted and reported once to the warning hook). Required.
	CardType string `json:"cardType,omitempty"`
	// MerchantName is 商户名称. ..120 characters, optional. "**市人民医院".
	MerchantName string `json:"merchantName,omitempty"`
	// MerchantID is 商户ID: the six-digit number the national platform assigned to the
	// merchant. n6, optional. "102142".
	MerchantID string `json:"merchantId,omitempty"`
	// PaymentScene is 支付场景: a scene type (C.7, open), optionally extended after "/";
	// see Credential.Scene. ..ul, required. "人力资源和社会保障应用/工伤医疗费用结算".
	PaymentScene string `json:"paymentScene,omitempty"`
	// OrderDescription is 订单名称或描述. ..ul, optional. "工伤医疗费用结算单".
	OrderDescription string `json:"orderDescription,omitempty"`
	// Amount is 支付金额 in yuan (RMB), exact, signed: zero and negative amounts (a
	// 退费/退款) are valid, as spec 8.1.1.1 d 1 lets numbers carry a sign. n..12,2 (a
	// JSON string or number; canonical: two decimals), required. "798.86", "-12.50".
	Amount string `json:"amount,omitempty"`
	// PaidTime is 支付完成时间. YYYY-MM-DD HH:MM:SS, required. "2022-01-01 14:53:18".
	PaidTime string `json:"paidTime,omitempty"`
	// SettlementMethod is 支付结算方式: a table C.9 value (canonical: the label).
	// Required. "电子社会保障卡展码结算".
	SettlementMethod string `json:"settlementMethod,omitempty"`
	// SettlementType is 支付结算类型: a table C.10 value (canonical: the label).
	// Required. "住院结算".
	SettlementType string `json:"settlementType,omitempty"`
	// BankAccount is 支付银行账户: the bank account paid from (by default the card's).
	// ..ul, optional, personal data.
	BankAccount string `json:"bankAccount,omitempty"`
	// PayerSocialSecurityNo is 付款人社会保障号码: GB 11643 with a valid check character.
	// an18, required, personal data.
	PayerSocialSecurityNo string `json:"payerSocialSecurityNo,omitempty"`
	// PayerName is 付款人姓名. ..50 characters, optional, personal data. "张三".
	PayerName string `json:"payerName,omitempty"`
	// TerminalInfo is 终端信息: the scanning terminal's maker and model. ..ul, optional.
	TerminalInfo string `json:"terminalInfo,omitempty"`
	// CoordinateSystem is 坐标系: "如：GCJ-02、BD09等" (an open list). ..ul, optional.
	CoordinateSystem string `json:"coordinateSystem,omitempty"`
	// Longitude is 交易位置经度. n..8,4, -180..180, optional.
	Longitude string `json:"longitude,omitempty"`
	// Latitude is 交易位置纬度. n..7,4, -90..90, optional.
	Latitude string `json:"latitude,omitempty"`
}

var _ Record = (*Payment)(nil)

// paymentTable is table C.4 row by row (see credentialTable).
var paymentTable = newTable(KindPayment, "C.4", "支付结算数据",
	func() Record { return new(Payment) },
	field{Field: Field{Name: "accessNo", Chinese: "接入编号", Format: FormatN12, Required: true}, check: digits(12)},
	field{Field: Field{Name: "businessSerialNo", Chinese: "业务流水号", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "regionCode", Chinese: "行政区划代码", Format: FormatN6, Required: true}, check: regionCode},
	rangeField("cardType", "用卡类型", RangeCardType, true),
	field{Field: Field{Name: "merchantName", Chinese: "商户名称", Format: FormatText120}, check: text(120)},
	field{Field: Field{Name: "merchantId", Chinese: "商户ID", Format: FormatN6}, check: digits(6)},
	sceneField("paymentScene", "支付场景"),
	field{Field: Field{Name: "orderDescription", Chinese: "订单名称或描述", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "amount", Chinese: "支付金额", Format: FormatAmount12, Required: true}, number: true, check: amount(9)},
	field{Field: Field{Name: "paidTime", Chinese: "支付完成时间", Format: FormatTime, Required: true}, check: dateTime},
	rangeField("settlementMethod", "支付结算方式", RangeSettlementMethod, true),
	rangeField("settlementType", "支付结算类型", RangeSettlementType, true),
	field{Field: Field{Name: "bankAccount", Chinese: "支付银行账户", Format: FormatTextUL, Personal: mask.KindBankCard}, check: text(MaxText)},
	field{Field: Field{Name: "payerSocialSecurityNo", Chinese: "付款人社会保障号码", Format: FormatAN18, Required: true, Personal: mask.KindIDNumber}, check: idNumber},
	field{Field: Field{Name: "payerName", Chinese: "付款人姓名", Format: FormatText50, Personal: mask.KindName}, check: text(50)},
	field{Field: Field{Name: "terminalInfo", Chinese: "终端信息", Format: FormatTextUL}, check: text(MaxText)},
	rangeField("coordinateSystem", "坐标系", RangeCoordinateSystem, false),
	field{Field: Field{Name: "longitude", Chinese: "交易位置经度", Format: FormatLon}, number: true, check: coordinate(180)},
	field{Field: Field{Name: "latitude", Chinese: "交易位置纬度", Format: FormatLat}, number: true, check: coordinate(90)},
)

func (r *Payment) values() []*string {
	return []*string{&r.AccessNo, &r.BusinessSerialNo, &r.RegionCode, &r.CardType, &r.MerchantName,
		&r.MerchantID, &r.PaymentScene, &r.OrderDescription, &r.Amount, &r.PaidTime,
		&r.SettlementMethod, &r.SettlementType, &r.BankAccount, &r.PayerSocialSecurityNo, &r.PayerName,
		&r.TerminalInfo, &r.CoordinateSystem, &r.Longitude, &r.Latitude}
}

// Kind returns KindPayment.
func (r *Payment) Kind() Kind { return KindPayment }

// Validate reports every problem as a *ValidationError, or nil.
func (r *Payment) Validate() error { return validate(r) }

// Normalize validates r and rewrites it into canonical form.
func (r *Payment) Normalize() error { return normalize(r) }

// HolderID returns PayerSocialSecurityNo.
func (r *Payment) HolderID() string { return r.PayerSocialSecurityNo }

// Masked returns a copy with PayerSocialSecurityNo, PayerName and BankAccount masked.
func (r *Payment) Masked() Record {
	m := *r
	masked(paymentTable, m.values())
	return &m
}

// AmountFen returns Amount as an exact Amount in fen (negative for a negative amount).
func (r *Payment) AmountFen() (Amount, error) { return ParseSignedAmount(r.Amount) }

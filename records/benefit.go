package records

import "github.com/sscagent/sscagent/internal/mask"

// Benefit is a 待遇发放数据 record (C.3.3, table C.5): a benefit or subsidy paid to the
// card's bank account. Every value is a string, as on the wire (spec 8.1.1.1 d); "" is
// an absent optional field.
type Benefit struct {
	// AccessNo is 接入编号. n12, required. "010122310011".
	AccessNo string `json:"accessNo,omitempty"`
	// BusinessSerialNo is 业务流水号: the case number of the related business. ..ul,
	// optional.
	BusinessSerialNo string `json:"businessSerialNo,omitempty"`
	// RegionCode is 行政区划代码 (GB/T 2260). n6, required. "131000".
	RegionCode string `json:"regionCode,omitempty"`
	// BenefitType is 待遇类型: whether the card was issued in this province, "如：省内、
	// 省外" (an open list: other values are accepted and reported once to the warning
	// hook). Required.
	BenefitType string `json:"benefitType,omitempty"`
	// SubjectCategory is 科目大类 of the subsidy. ..ul, required. "就业补助资金".
	SubjectCategory string `json:"subjectCategory,omitempty"`
	// SubjectSubcategory is 科目小类. ..ul, required. "一次性求职创业补贴".
	SubjectSubcategory string `json:"subjectSubcategory,omitempty"`
	// PayoutDepartment is 发放部门: the paying department's full name. ..ul, required.
	PayoutDepartment string `json:"payoutDepartment,omitempty"`
	// Amount is 发放金额 in yuan (RMB), exact, signed: zero and negative amounts are valid,
	// as spec 8.1.1.1 d 1 lets numbers carry a sign. n..9,2 (a JSON string or number;
	// canonical: two decimals), required. "600.86".
	Amount string `json:"amount,omitempty"`
	// SocialSecurityNo is 社会保障号码: GB 11643 with a valid check character. an18,
	// required, personal data.
	SocialSecurityNo string `json:"socialSecurityNo,omitempty"`
	// Name is 姓名. ..50 characters, required, personal data.
	Name string `json:"name,omitempty"`
	// PersonCategory is 人员分类: the person type the department defines. ..ul, optional.
	PersonCategory string `json:"personCategory,omitempty"`
	// BankAccount is 社会保障卡银行账户: the card's bank account paid into. ..ul,
	// required, personal data.
	BankAccount string `json:"bankAccount,omitempty"`
	// PayoutTime is 发放时间. YYYY-MM-DD HH:MM:SS, required.
	PayoutTime string `json:"payoutTime,omitempty"`
	// PayoutStatus is 发放标志: "如：成功、失败" (an open list). Required.
	PayoutStatus string `json:"payoutStatus,omitempty"`
	// PayoutFailureReason is 发放失败原因, as the bank returned it. ..ul, optional.
	// "账户不匹配" (the table's example row gives it next to 发放标志 成功).
	PayoutFailureReason string `json:"payoutFailureReason,omitempty"`
	// PayoutPeriod is 发放期次. ..ul, optional. "2022年第1期".
	PayoutPeriod string `json:"payoutPeriod,omitempty"`
	// CreditedTime is 到账时间. YYYY-MM-DD HH:MM:SS, required (the table requires it for
	// failed payouts too). The standard does not order it after PayoutTime.
	CreditedTime string `json:"creditedTime,omitempty"`
	// PayoutBank is 发放银行: the card's service bank. ..ul, required. "**银行".
	PayoutBank string `json:"payoutBank,omitempty"`
}

var _ Record = (*Benefit)(nil)

// benefitTable is table C.5 row by row (see credentialTable).
var benefitTable = newTable(KindBenefit, "C.5", "待遇发放数据",
	func() Record { return new(Benefit) },
	field{Field: Field{Name: "accessNo", Chinese: "接入编号", Format: FormatN12, Required: true}, check: digits(12)},
	field{Field: Field{Name: "businessSerialNo", Chinese: "业务流水号", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "regionCode", Chinese: "行政区划代码", Format: FormatN6, Required: true}, check: regionCode},
	rangeField("benefitType", "待遇类型", RangeBenefitType, true),
	field{Field: Field{Name: "subjectCategory", Chinese: "科目大类", Format: FormatTextUL, Required: true}, check: text(MaxText)},
	field{Field: Field{Name: "subjectSubcategory", Chinese: "科目小类", Format: FormatTextUL, Required: true}, check: text(MaxText)},
	field{Field: Field{Name: "payoutDepartment", Chinese: "发放部门", Format: FormatTextUL, Required: true}, check: text(MaxText)},
	field{Field: Field{Name: "amount", Chinese: "发放金额", Format: FormatAmount9, Required: true}, number: true, check: amount(6)},
	field{Field: Field{Name: "socialSecurityNo", Chinese: "社会保障号码", Format: FormatAN18, Required: true, Personal: mask.KindIDNumber}, check: idNumber},
	field{Field: Field{Name: "name", Chinese: "姓名", Format: FormatText50, Required: true, Personal: mask.KindName}, check: text(50)},
	field{Field: Field{Name: "personCategory", Chinese: "人员分类", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "bankAccount", Chinese: "社会保障卡银行账户", Format: FormatTextUL, Required: true, Personal: mask.KindBankCard}, check: text(MaxText)},
	field{Field: Field{Name: "payoutTime", Chinese: "发放时间", Format: FormatTime, Required: true}, check: dateTime},
	rangeField("payoutStatus", "发放标志", RangePayoutStatus, true),
	field{Field: Field{Name: "payoutFailureReason", Chinese: "发放失败原因", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "payoutPeriod", Chinese: "发放期次", Format: FormatTextUL}, check: text(MaxText)},
	field{Field: Field{Name: "creditedTime", Chinese: "到账时间", Format: FormatTime, Required: true}, check: dateTime},
	field{Field: Field{Name: "payoutBank", Chinese: "发放银行", Format: FormatTextUL, Required: true}, check: text(MaxText)},
)

func (r *Benefit) values() []*string {
	return []*string{&r.AccessNo, &r.BusinessSerialNo, &r.RegionCode, &r.BenefitType, &r.SubjectCategory,
		&r.SubjectSubcategory, &r.PayoutDepartment, &r.Amount, &r.SocialSecurityNo, &r.Name,
		&r.PersonCategory, &r.BankAccount, &r.PayoutTime, &r.PayoutStatus, &r.PayoutFailureReason,
		&r.PayoutPeriod, &r.CreditedTime, &r.PayoutBank}
}

// Kind returns KindBenefit.
func (r *Benefit) Kind() Kind { return KindBenefit }

// Validate reports every problem as a *ValidationError, or nil.
func (r *Benefit) Validate() error { return validate(r) }

// Normalize validates r and rewrites it into canonical form.
func (r *Benefit) Normalize() error { return normalize(r) }

// HolderID returns SocialSecurityNo.
func (r *Benefit) HolderID() string { return r.SocialSecurityNo }

// Masked returns a copy with SocialSecurityNo, Name and BankAccount masked.
func (r *Benefit) Masked() Record {
	m := *r
	masked(benefitTable, m.values())
	return &m
}

// AmountFen returns Amount as an exact Amount in fen (negative for a negative amount).
func (r *Benefit) AmountFen() (Amount, error) { return ParseSignedAmount(r.Amount) }

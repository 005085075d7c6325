package records

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Range is a set of values a field takes: the value ranges of C.4 (tables C.6 to C.10),
// each value a two-digit code and a label, and the lists the tables' descriptions give
// without a code table (用卡类型, 待遇类型, 发放标志, 坐标系, 业务处理状态).
//
// A range is closed or open, as the standard writes it. Tables C.6, C.8, C.9 and C.10
// are closed: the field's 说明 says "取值范围见表C.x" and the table has its own 99 (其他)
// where it needs one. The others are open: C.7 because the catalogue lets each region
// extend it ("各地可从'08'起扩展本地区编号", table A.1 row 2) and the standard's own
// examples use values it does not list (C.3's 就业创业, A.1's 人社服务); the description
// lists because they are introduced with "如" (for example), which gives examples, not a
// closed set. A value outside an open range is accepted as sent and reported once to
// the warning hook (SetWarn). Open reports which kind a range is.
//
// Records carry the label (the canonical form): the standard's tables list the label as
// the value (取值) with the number as its row, every 填报示例 uses labels, and
// 应用场景/支付场景 extend a label with "/" and free text, which a code cannot. Lookup
// accepts the code or the label, and finds listed values only.
type Range uint8

// The value ranges.
const (
	RangeCredentialType   Range = iota + 1 // C.6 办事凭证类型, closed
	RangeScene                             // C.7 应用场景类型 (应用场景, 支付场景; also applicationNo), open
	RangeInstitutionType                   // C.8 应用机构类别, closed
	RangeSettlementMethod                  // C.9 支付结算方式, closed
	RangeSettlementType                    // C.10 支付结算类型, closed
	RangeCardType                          // C.4 用卡类型: 如：电子社会保障卡、实体社会保障卡, open
	RangeBenefitType                       // C.5 待遇类型: 如：省内、省外, open
	RangePayoutStatus                      // C.5 发放标志: 如：成功、失败, open
	RangeCoordinateSystem                  // C.3/C.4 坐标系: 如：GCJ-02、BD09等, open
	RangeBusinessStatus                    // C.3 业务处理状态: 如成功、失败、未响应等, open
)

// Ranges lists every range in the order of the constants.
func Ranges() []Range {
	return []Range{RangeCredentialType, RangeScene, RangeInstitutionType, RangeSettlementMethod,
		RangeSettlementType, RangeCardType, RangeBenefitType, RangePayoutStatus,
		RangeCoordinateSystem, RangeBusinessStatus}
}

// Value is one value of a Range.
type Value struct {
	Code  string // two digits, "" for the ranges without a code table
	Label string // as the standard writes it
}

type rangeDef struct {
	rule, name string
	open       bool
	values     []Value
	// aliases are other spellings found in the standard itself, by folded key.
	aliases map[string]int
	index   map[string]int // folded code and label -> values index
}

var rangeDefs = map[Range]*rangeDef{
	RangeCredentialType: newRange("C.6", "办事凭证类型", false, []Value{
		{"01", "实体社会保障卡鉴权"},
		{"02", "电子社会保障卡二维码扫码认证"},
		{"03", "电子社会保障卡人脸识别认证"},
		{"04", "社会保障卡信息授权登录"},
		{"05", "电子社会保障卡扫码登录"},
		{"99", "其他办事凭证类型"},
	}, nil),
	RangeScene: newRange("C.7", "应用场景类型", true, []Value{
		{"01", "政务服务应用"},
		{"02", "人力资源和社会保障应用"},
		{"03", "就医购药应用"},
		{"04", "交通出行应用"},
		{"05", "旅游观光应用"},
		{"06", "文化体验应用"},
		{"07", "惠民惠农财政补贴资金发放应用"},
		{"99", "其他业务领域应用"},
	}, map[string]string{
		// The 填报示例 of table C.4 (支付场景) and table B.1's example (支持场景类型,
		// "采用表C.7定义的...") both write 服务 for 应用.
		"人力资源和社会保障服务": "02",
		// Table A.1's examples: 一级应用服务目录编号 02 is 应用场景类型 人社服务 ("采用表C.7
		// 定义的..."), and A.2's service numbers A02/B02 are 服务场景 人社服务.
		"人社服务": "02",
	}),
	RangeInstitutionType: newRange("C.8", "应用机构类别", false, []Value{
		{"01", "机关"},
		{"02", "事业单位"},
		{"03", "中央编办直接管理机构编制的群众团体"},
		{"04", "社会团体"},
		{"05", "民办非企业单位"},
		{"06", "基金会"},
		{"07", "企业"},
		{"08", "个体工商户"},
		{"09", "农民专业合作社"},
		{"99", "其他机构类别"},
	}, nil),
	RangeSettlementMethod: newRange("C.9", "支付结算方式", false, []Value{
		{"01", "实体社会保障卡银行账户刷卡交易"},
		{"02", "实体社会保障卡银行账户快捷支付（含微信、支付宝、银联快捷支付等）"},
		{"03", "实体社会保障卡刷卡结算"},
		{"04", "电子社会保障卡展码被扫支付"},
		{"05", "电子社会保障卡主扫支付"},
		{"06", "电子社会保障卡展码结算"},
		{"99", "其他支付方式"},
	}, map[string]string{
		// The label without its parenthesised note.
		"实体社会保障卡银行账户快捷支付": "02",
		// The 填报示例 of table C.4 drops 卡.
		"电子社会保障展码结算": "06",
	}),
	RangeSettlementType: newRange("C.10", "支付结算类型", false, []Value{
		{"01", "普通消费/缴费支付"},
		{"02", "挂号支付"},
		{"03", "门诊支付"},
		{"04", "购药结算"},
		{"05", "住院结算"},
		{"06", "个人账户活化支付"},
		{"07", "混合支付"},
		{"08", "退费/退款"},
	}, nil),
	RangeCardType: newRange("C.4 用卡类型", "用卡类型", true, []Value{
		{"", "电子社会保障卡"},
		{"", "实体社会保障卡"},
	}, nil),
	RangeBenefitType: newRange("C.5 待遇类型", "待遇类型", true, []Value{
		{"", "省内"},
		{"", "省外"},
	}, nil),
	RangePayoutStatus: newRange("C.5 发放标志", "发放标志", true, []Value{
		{"", "成功"},
		{"", "失败"},
	}, nil),
	RangeCoordinateSystem: newRange("C.3 坐标系", "坐标系", true, []Value{
		{"", "GCJ-02"},
		{"", "BD09"},
	}, nil),
	RangeBusinessStatus: newRange("C.3 业务处理状态", "业务处理状态", true, []Value{
		{"", "成功"},
		{"", "失败"},
		{"", "未响应"},
	}, nil),
}

func newRange(rule, name string, open bool, values []Value, aliases map[string]string) *rangeDef {
	d := &rangeDef{rule: rule, name: name, open: open, values: values, index: map[string]int{}, aliases: map[string]int{}}
	for i, v := range values {
		if v.Code != "" {
			d.index[v.Code] = i
		}
		d.index[foldKey(v.Label)] = i
	}
	for label, code := range aliases {
		d.aliases[foldKey(label)] = d.index[code]
	}
	return d
}

// Rule returns the range's name as FieldError.Rule and Field.Format give it: "C.6" to
// "C.10" for the tables, "C.4 用卡类型" and so on for the others.
func (r Range) Rule() string {
	if d := rangeDefs[r]; d != nil {
		return d.rule
	}
	return ""
}

// Name returns the standard's Chinese name of the range ("办事凭证类型").
func (r Range) Name() string {
	if d := rangeDefs[r]; d != nil {
		return d.name
	}
	return ""
}

// Open reports whether the standard's list is open: values it does not list are
// accepted (and reported once to the warning hook). See the Range documentation.
func (r Range) Open() bool {
	d := rangeDefs[r]
	return d != nil && d.open
}

// Values returns the range's values in the standard's order (a copy).
func (r Range) Values() []Value {
	if d := rangeDefs[r]; d != nil {
		return append([]Value(nil), d.values...)
	}
	return nil
}

// Lookup finds the value s names: its two-digit code or its label. Matching ignores
// white space anywhere (the standard's labels are broken across lines and padded with
// spaces in its tables), full-width and half-width forms of ASCII characters (digits,
// letters, parentheses, "/") are the same, and a few spellings the standard itself uses
// in its examples are accepted for the label they mean (see docs/records.md).
func (r Range) Lookup(s string) (Value, bool) {
	d := rangeDefs[r]
	if d == nil {
		return Value{}, false
	}
	k := foldKey(s)
	if i, ok := d.index[k]; ok {
		return d.values[i], true
	}
	if i, ok := d.aliases[k]; ok {
		return d.values[i], true
	}
	return Value{}, false
}

// check is the field check of a range field. A closed range refuses a value it does not
// list; an open one accepts any text and keeps it as sent (unlisted reports it).
func (r Range) check(s string) (string, error) {
	if v, ok := r.Lookup(s); ok {
		return v.Label, nil
	}
	if !r.Open() {
		return "", &ruleError{r.Rule(), r.notFound(s)}
	}
	return openText(s)
}

// unlisted is the field's unlisted function for an open range: the canonical value when
// the range does not list it.
func (r Range) unlisted(canonical string) string {
	if _, ok := r.Lookup(canonical); ok {
		return ""
	}
	return canonical
}

// openText checks a value of an open list as the ..ul text it is (C.2).
func openText(s string) (string, error) {
	if _, err := text(MaxText)(s); err != nil {
		var re *ruleError
		if errors.As(err, &re) {
			return "", err
		}
		return "", &ruleError{FormatTextUL, err.Error()}
	}
	return s, nil
}

func (r Range) notFound(s string) string {
	d := rangeDefs[r]
	var b strings.Builder
	fmt.Fprintf(&b, "%s is not a value of %s %s: ", quote(s), d.rule, d.name)
	for i, v := range d.values {
		if i > 0 {
			b.WriteString(", ")
		}
		if v.Code != "" {
			b.WriteString(v.Code + " ")
		}
		b.WriteString(v.Label)
	}
	return b.String()
}

// scene is the check of 应用场景 / 支付场景: "取值范围见表C.7，上报时可进行扩展性描述，
// 使用'/'隔开" (tables C.3 and C.4): a scene type, optionally followed by "/" and a
// free-text extension ("人力资源和社会保障应用/工伤医疗费用结算"). C.7 is open (see Range),
// so the part before "/" is a C.7 value, which becomes its label, or any other text,
// kept as sent. The canonical form is that head, and "/" and the trimmed extension when
// there is one.
func scene(s string) (string, error) {
	head, ext, _ := cutSlash(s)
	head = strings.TrimFunc(head, unicode.IsSpace)
	if head == "" {
		return "", &ruleError{RangeScene.Rule(), "the scene type before \"/\" is empty"}
	}
	if v, ok := RangeScene.Lookup(head); ok {
		head = v.Label
	} else if _, err := openText(head); err != nil {
		return "", err
	}
	ext = strings.TrimFunc(ext, unicode.IsSpace)
	if ext == "" {
		return head, nil
	}
	if _, err := openText(ext); err != nil {
		return "", err
	}
	out := head + "/" + ext
	if n := len([]rune(out)); n > MaxText {
		return "", &ruleError{FormatTextUL, fmt.Sprintf("is %d characters long, at most %d", n, MaxText)}
	}
	return out, nil
}

// sceneUnlisted is the unlisted function of 应用场景 / 支付场景: the head of a canonical
// scene when C.7 does not list it. The extension is free text and never reported.
func sceneUnlisted(canonical string) string {
	head, _, _ := cutSlash(canonical)
	return RangeScene.unlisted(head)
}

// cutSlash splits s at its first "/" or full-width "／".
func cutSlash(s string) (head, ext string, found bool) {
	i := strings.IndexAny(s, "/／")
	if i < 0 {
		return s, "", false
	}
	sep := 1
	if s[i] != '/' {
		sep = len("／")
	}
	return s[:i], s[i+sep:], true
}

// foldKey is the matching key of a range value: white space removed and full-width
// ASCII forms folded to ASCII.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), r == '\u200B', r == '\uFEFF':
			continue
		case r >= '\uFF01' && r <= '\uFF5E':
			r -= 0xFEE0
		}
		b.WriteRune(r)
	}
	return b.String()
}

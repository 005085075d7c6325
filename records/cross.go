package records

import "strings"

// Cross-field rules. Each one looks only at fields that are present and valid, so a
// field with a problem of its own is not reported twice. docs/records.md lists them.

// timeOrder: the later event must not be before the earlier one (认证时间 then 业务办理
// 时间; 发放时间 then 到账时间). Canonical datetimes compare as strings.
func timeOrder(v view, p *problems, earlier, later string) {
	a, okA := v.get(earlier)
	b, okB := v.get(later)
	if okA && okB && b < a {
		ea, eb := v.t.fields[v.t.index[earlier]], v.t.fields[v.t.index[later]]
		p.add(later, RuleTimeOrder, eb.Chinese+" "+b+" is before "+ea.Chinese+" "+a+" ("+earlier+")")
	}
}

// coordinates: longitude and latitude are given together, and with the coordinate
// system they are in: in China the same point differs by hundreds of metres between
// WGS-84, GCJ-02 and BD-09, so a position without its datum is not a position.
func coordinates(v view, p *problems, lon, lat string) {
	lonAbsent, latAbsent := v.absent(lon), v.absent(lat)
	switch {
	case lonAbsent && !latAbsent:
		p.add(lon, RuleTogether, "required when "+lat+" is given")
	case latAbsent && !lonAbsent:
		p.add(lat, RuleTogether, "required when "+lon+" is given")
	}
	if (!lonAbsent || !latAbsent) && v.absent("coordinateSystem") {
		p.add("coordinateSystem", RuleTogether, "required when coordinates are given (GCJ-02, BD09, WGS84, ...)")
	}
}

// creditCategory maps the first two characters of a GB 32100 code (登记管理部门代码 and
// 机构类别代码) to the C.8 code they define; C.8 is "按照GB 32100—2015中的'机构类别代码'
// 编制". Other prefixes (司法行政, 文化, 宗教, 工会, ...) map to no category and are not
// checked.
var creditCategory = map[string]string{
	"11": "01", // 机构编制: 机关
	"12": "02", // 机构编制: 事业单位
	"13": "03", // 机构编制: 中央编办直接管理机构编制的群众团体
	"19": "99", // 机构编制: 其他
	"51": "04", // 民政: 社会团体
	"52": "05", // 民政: 民办非企业单位
	"53": "06", // 民政: 基金会
	"59": "99", // 民政: 其他
	"91": "07", // 工商: 企业
	"92": "08", // 工商: 个体工商户
	"93": "09", // 工商: 农民专业合作社
}

// InstitutionTypeOf returns the C.8 应用机构类别 that the first two characters of a GB
// 32100 credit code define (12 -> 02 事业单位, 91 -> 07 企业, ...), for filling
// 应用机构类别 from the terminal's configured credit code. It reports false for a code
// whose prefix defines no C.8 category (司法行政, 文化, 宗教, 工会, ...); it does not
// check the code itself.
func InstitutionTypeOf(creditCode string) (Value, bool) {
	if len(creditCode) < 2 {
		return Value{}, false
	}
	code, ok := creditCategory[strings.ToUpper(creditCode[:2])]
	if !ok {
		return Value{}, false
	}
	return RangeInstitutionType.Lookup(code)
}

// institution: 应用机构类别 agrees with the category coded in 统一社会信用代码.
func institution(v view, p *problems) {
	it, ok1 := v.get("institutionType")
	cc, ok2 := v.get("creditCode")
	if !ok1 || !ok2 {
		return
	}
	want, known := InstitutionTypeOf(cc)
	if known && it != want.Label {
		p.add("institutionType", RuleConsists, it+" contradicts creditCode, whose category code "+cc[:2]+" means "+want.Label+" (GB 32100)")
	}
}

// cardForm: 支付结算方式 01-03 are made with the physical card and 04-06 with the
// e-card, so 用卡类型 must say the same; 99 (其他支付方式) goes with either.
func cardForm(v view, p *problems) {
	ct, ok1 := v.get("cardType")
	sm, ok2 := v.get("settlementMethod")
	if !ok1 || !ok2 {
		return
	}
	m, _ := RangeSettlementMethod.Lookup(sm)
	var want string
	switch m.Code {
	case "01", "02", "03":
		want = "实体社会保障卡"
	case "04", "05", "06":
		want = "电子社会保障卡"
	default:
		return
	}
	if ct != want {
		p.add("cardType", RuleConsists, ct+" contradicts settlementMethod "+m.Code+" "+m.Label+", which is made with "+want)
	}
}

// payoutFailure: 发放失败原因 belongs to a failed payout only.
func payoutFailure(v view, p *problems) {
	st, ok := v.get("payoutStatus")
	if ok && st != "失败" && !v.absent("payoutFailureReason") {
		p.add("payoutFailureReason", RuleConsists, "given although payoutStatus is "+st+"; only a failed payout (失败) has a failure reason")
	}
}

package records

import "strings"

// creditCategory maps the first two characters of a GB 32100 code (登记管理部门代码 and
// 机构类别代码) to the C.8 code they define; C.8 is "按照GB 32100—2015中的'机构类别代码'
// 编制". Other prefixes (司法行政, 文化, 宗教, 工会, ...) map to no category.
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
// check the code itself. Records are not checked against it: the standard does not
// require 应用机构类别 to agree with the credit code.
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

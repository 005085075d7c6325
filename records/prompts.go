package records

import "github.com/sscagent/sscagent/internal/prompt"

// Prompt codes of records (range 600000-609999).
const (
	// CodeInvalid: a record has fields that break Appendix C (format, value range,
	// check digit, required field); ValidationError lists them.
	CodeInvalid prompt.Code = 600001
	// CodeMalformed: what was sent as a record is not one JSON object in UTF-8 within
	// MaxSize.
	CodeMalformed prompt.Code = 600002
	// CodeUnknownKind: the record type is not credential, payment or benefit.
	CodeUnknownKind prompt.Code = 600003
)

func init() {
	holder := prompt.Text{ZH: "业务信息有误，请联系工作人员", EN: "Some business information is incorrect, please ask staff for help"}
	prompt.Register(
		prompt.Message{Code: CodeInvalid,
			Holder:     holder,
			Operator:   prompt.Text{ZH: "业务记录未保存，原因为字段不符合数据共享目录要求，请核对后重新提交", EN: "Record not saved: fields do not meet the data catalogue (Appendix C); correct them and resubmit"},
			Maintainer: prompt.Text{ZH: "业务记录字段校验失败（格式、取值范围、校验位或必填），详见字段错误列表", EN: "Record field validation failed (format, value range, check digit or required field); see the field errors"}},
		prompt.Message{Code: CodeMalformed,
			Holder:     holder,
			Operator:   prompt.Text{ZH: "业务记录未保存，原因为记录格式错误，请联系维护人员", EN: "Record not saved: it is not a well-formed record; call maintenance"},
			Maintainer: prompt.Text{ZH: "业务记录不是单个UTF-8 JSON对象、超过64KiB或含多余数据", EN: "Record is not a single UTF-8 JSON object, exceeds 64 KiB or has trailing data"}},
		prompt.Message{Code: CodeUnknownKind,
			Holder:     holder,
			Operator:   prompt.Text{ZH: "业务记录未保存，原因为记录类型未知，请联系维护人员", EN: "Record not saved: unknown record type; call maintenance"},
			Maintainer: prompt.Text{ZH: "记录类型应为 credential（办事凭证）、payment（支付结算）或 benefit（待遇发放）", EN: "Record type must be credential, payment or benefit"}},
	)
}

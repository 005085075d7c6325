package backflow

import "github.com/sscagent/sscagent/internal/prompt"

// Prompt codes of the uploader (620000-629999).
const (
	// CodeOutage: uploads fail; records are kept and retried with backoff.
	CodeOutage prompt.Code = 620001
	// CodeResumed: uploads work again; the backlog drains.
	CodeResumed prompt.Code = 620002
)

func init() {
	prompt.Register(
		prompt.Message{Code: CodeOutage,
			Holder:     prompt.Text{ZH: "业务办理不受影响", EN: "Your business is not affected"},
			Operator:   prompt.Text{ZH: "与平台的数据回流中断，数据已在本地安全保存，恢复后自动上传", EN: "Uploads to the platform are interrupted; data is kept safely on the terminal and uploads resume automatically"},
			Maintainer: prompt.Text{ZH: "数据回流调用失败，按指数退避重试", EN: "Backflow call failed; retrying with exponential backoff"}},
		prompt.Message{Code: CodeResumed,
			Holder:     prompt.Text{ZH: "业务办理正常", EN: "Service is normal"},
			Operator:   prompt.Text{ZH: "与平台的数据回流已恢复，积压数据正在上传", EN: "Uploads to the platform resumed; the backlog is uploading"},
			Maintainer: prompt.Text{ZH: "数据回流恢复，开始全速排空积压", EN: "Backflow recovered; draining the backlog at full rate"}},
	)
}

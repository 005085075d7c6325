package mgmt

import (
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// Prompt codes of terminal management (range 7xxxxx).
const (
	// CodeOnline: the session with terminal management is up.
	CodeOnline prompt.Code = 700001
	// CodeOffline: terminal management cannot be reached; the terminal keeps working
	// and buffers what it reports.
	CodeOffline prompt.Code = 700002
	// CodeAuthRefused: the broker refused the terminal's credentials.
	CodeAuthRefused prompt.Code = 700003
	// CodeConfigCommitted: a remote configuration passed the health gate and is in force.
	CodeConfigCommitted prompt.Code = 700004
	// CodeConfigUnchanged: a remote configuration equals the running one; nothing applied.
	CodeConfigUnchanged prompt.Code = 700005
	// CodeConfigRejected: a remote configuration is invalid; nothing changed.
	CodeConfigRejected prompt.Code = 700006
	// CodeConfigRolledBack: a remote configuration failed to apply or failed the health
	// gate; the last-known-good configuration is back in force.
	CodeConfigRolledBack prompt.Code = 700007
	// CodeRollbackFailed: rolling back failed too; the terminal needs attention.
	CodeRollbackFailed prompt.Code = 700008
	// CodeConfigStale: a remote configuration's version is not newer than the last one.
	CodeConfigStale prompt.Code = 700009
	// CodeCommandFailed: a management command failed, is unknown or unreadable.
	CodeCommandFailed prompt.Code = 700010
	// CodeCommandTimeout: a management command did not finish within its time limit.
	CodeCommandTimeout prompt.Code = 700011
	// CodeBufferOverflow: reports were dropped because the offline buffer was full.
	CodeBufferOverflow prompt.Code = 700012
	// CodeDuplicateTerminal: another agent announces itself with this terminal's id.
	CodeDuplicateTerminal prompt.Code = 700013
	// CodeRefused: a configuration document or command failed verification (not signed
	// by a pinned manager key, for another terminal, replayed, expired); nothing changed.
	CodeRefused prompt.Code = 700014
	// CodeNoManagerKeys: no manager key is pinned (mgmt.managerKeys): a test terminal
	// takes unsigned messages, any other terminal refuses every one.
	CodeNoManagerKeys prompt.Code = 700015
)

// configCode maps a final rollout status to its prompt code.
func configCode(s rollout.Status) prompt.Code {
	switch s {
	case rollout.StatusCommitted:
		return CodeConfigCommitted
	case rollout.StatusUnchanged:
		return CodeConfigUnchanged
	case rollout.StatusRejected:
		return CodeConfigRejected
	case rollout.StatusRolledBack:
		return CodeConfigRolledBack
	case rollout.StatusStale:
		return CodeConfigStale
	case rollout.StatusRefused:
		return CodeRefused
	}
	return CodeRollbackFailed
}

func init() {
	unaffected := prompt.Text{ZH: "终端运行正常，可继续办理业务", EN: "The terminal is working, you can go on"}
	attention := prompt.Text{ZH: "终端暂停服务，请联系工作人员", EN: "The terminal is paused, please ask staff for help"}
	prompt.Register(
		prompt.Message{Code: CodeOnline,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "终端已连接终端管理系统", EN: "Connected to terminal management"},
			Maintainer: prompt.Text{ZH: "MQTT 会话已建立，出生消息已发布", EN: "MQTT session up, birth published"}},
		prompt.Message{Code: CodeOffline,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "终端管理系统暂时无法连接，业务不受影响，状态将在恢复后补报", EN: "Terminal management unreachable; business goes on and reports are sent when it is back"},
			Maintainer: prompt.Text{ZH: "MQTT 代理不可达或连接中断，正在按退避策略重连", EN: "MQTT broker unreachable or connection lost; reconnecting with backoff"}},
		prompt.Message{Code: CodeAuthRefused,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "终端管理系统拒绝了本终端的登录，请联系维护人员", EN: "Terminal management refused this terminal's login; call maintenance"},
			Maintainer: prompt.Text{ZH: "MQTT 代理拒绝凭据（用户名/密码文件/客户端证书）或未授权", EN: "MQTT broker refused the credentials (username, password file, client certificate) or not authorized"}},
		prompt.Message{Code: CodeConfigCommitted,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程配置已生效", EN: "Remote configuration in force"},
			Maintainer: prompt.Text{ZH: "远程配置通过健康检查并已提交", EN: "Remote configuration passed the health gate and was committed"}},
		prompt.Message{Code: CodeConfigUnchanged,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程配置与当前配置相同，无需变更", EN: "Remote configuration equals the running one; nothing to change"},
			Maintainer: prompt.Text{ZH: "有效配置未变化，未执行应用与重启", EN: "Effective configuration unchanged; nothing applied or restarted"}},
		prompt.Message{Code: CodeConfigRejected,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程配置有误，未被采用，终端配置未变", EN: "Remote configuration invalid and not used; the terminal's configuration is unchanged"},
			Maintainer: prompt.Text{ZH: "远程配置校验失败，详见逐项问题列表", EN: "Remote configuration failed validation; see the list of problems"}},
		prompt.Message{Code: CodeConfigRolledBack,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程配置未通过检查，已恢复原配置", EN: "Remote configuration failed its check; the previous configuration is back"},
			Maintainer: prompt.Text{ZH: "应用失败或健康检查超时，已回滚到最近可用配置", EN: "Apply failed or health gate timed out; rolled back to last-known-good"}},
		prompt.Message{Code: CodeRollbackFailed,
			Holder:     attention,
			Operator:   prompt.Text{ZH: "配置回滚失败，请立即联系维护人员", EN: "Configuration rollback failed; call maintenance now"},
			Maintainer: prompt.Text{ZH: "回滚到最近可用配置失败，终端状态未知，需现场或远程处理", EN: "Rollback to last-known-good failed; terminal state unknown, needs attention"}},
		prompt.Message{Code: CodeConfigStale,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "收到过期的远程配置，已忽略", EN: "Outdated remote configuration ignored"},
			Maintainer: prompt.Text{ZH: "配置版本不高于已处理的版本，请使用新版本号", EN: "Configuration version not newer than the last processed; use a new version"}},
		prompt.Message{Code: CodeCommandFailed,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程指令执行失败", EN: "Remote command failed"},
			Maintainer: prompt.Text{ZH: "管理指令失败、未知或格式错误", EN: "Management command failed, unknown or malformed"}},
		prompt.Message{Code: CodeCommandTimeout,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "远程指令执行超时", EN: "Remote command timed out"},
			Maintainer: prompt.Text{ZH: "管理指令未在时限内完成", EN: "Management command did not finish within its time limit"}},
		prompt.Message{Code: CodeBufferOverflow,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "离线期间部分状态报告未能保留", EN: "Some status reports could not be kept while offline"},
			Maintainer: prompt.Text{ZH: "离线缓冲已满，最早的消息被丢弃并计数", EN: "Offline buffer full; oldest messages dropped and counted"}},
		prompt.Message{Code: CodeDuplicateTerminal,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "发现另一台终端使用相同编号，请联系维护人员", EN: "Another terminal uses the same id; call maintenance"},
			Maintainer: prompt.Text{ZH: "同一终端编号出现不同进程的上线消息，检查终端编号配置", EN: "Birth from another process with this terminal id; check terminal.id"}},
		prompt.Message{Code: CodeRefused,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "收到未通过验证的管理消息，已拒绝，终端配置未变", EN: "A management message failed verification and was refused; nothing changed"},
			Maintainer: prompt.Text{ZH: "配置或指令未经受信管理密钥签名、签名无效、属于其他终端、重放或已过期，已拒绝并上报原因", EN: "Configuration or command not signed by a pinned manager key, badly signed, for another terminal, replayed or expired; refused and reported"}},
		prompt.Message{Code: CodeNoManagerKeys,
			Holder:     unaffected,
			Operator:   prompt.Text{ZH: "终端未配置管理公钥，远程配置与指令不可用", EN: "No manager key is set on this terminal; remote configuration and commands are unavailable"},
			Maintainer: prompt.Text{ZH: "未配置 mgmt.managerKeys：测试终端接受未签名消息，正式终端拒绝一切远程配置和指令", EN: "mgmt.managerKeys not set: a test terminal takes unsigned messages, any other terminal refuses all configuration and commands"}},
	)
}

package queue

import "github.com/sscagent/sscagent/internal/prompt"

// Prompt codes of the queue (610000-619999).
const (
	// CodeFull: the cap is reached and new business is refused.
	CodeFull prompt.Code = 610001
	// CodeTooLarge: one record exceeds the record size limit.
	CodeTooLarge prompt.Code = 610002
	// CodeRecovered: the queue file was corrupt, moved aside and replaced.
	CodeRecovered prompt.Code = 610003
	// CodeLocked: the queue file is held by another process.
	CodeLocked prompt.Code = 610004
	// CodeWrongKey: the queue key does not match the file.
	CodeWrongKey prompt.Code = 610005
	// CodeTelemetryDropped: telemetry was dropped to make room.
	CodeTelemetryDropped prompt.Code = 610006
	// CodeQuarantined: a record was moved to quarantine.
	CodeQuarantined prompt.Code = 610007
	// CodeIdempotencyConflict: an idempotency key reused for a different record.
	CodeIdempotencyConflict prompt.Code = 610008
)

func init() {
	prompt.Register(
		prompt.Message{Code: CodeFull,
			Holder:     prompt.Text{ZH: "暂停办理，请联系工作人员", EN: "Service paused, please ask staff for help"},
			Operator:   prompt.Text{ZH: "终端待上传数据已达存储上限，暂停受理新业务；请检查网络后等待数据上传完成", EN: "Terminal backlog at its storage cap; new business refused. Check the network and let the backlog upload"},
			Maintainer: prompt.Text{ZH: "本地队列达到容量上限，资金与身份类记录不丢弃，拒绝新业务", EN: "Queue at its cap; money and identity records are kept, new business refused"}},
		prompt.Message{Code: CodeTooLarge,
			Holder:     prompt.Text{ZH: "业务数据有误，请联系工作人员", EN: "There is a problem with this transaction, please ask staff"},
			Operator:   prompt.Text{ZH: "业务记录过大，未能保存，请联系维护人员", EN: "Business record too large to store; call maintenance"},
			Maintainer: prompt.Text{ZH: "单条记录超过队列记录大小上限", EN: "Record exceeds the queue's record size limit"}},
		prompt.Message{Code: CodeRecovered,
			Holder:     prompt.Text{ZH: "终端正在恢复，请稍候", EN: "The terminal is recovering, please wait"},
			Operator:   prompt.Text{ZH: "终端本地数据文件损坏已自动恢复，请通知维护人员核对", EN: "The terminal's local data file was damaged and recovered; tell maintenance to check it"},
			Maintainer: prompt.Text{ZH: "队列文件损坏，已移至旁路并启用新文件，可读记录已复制", EN: "Queue file corrupt: moved aside, fresh file started, readable records copied"}},
		prompt.Message{Code: CodeLocked,
			Holder:     prompt.Text{ZH: "终端暂不可用，请稍后再试", EN: "The terminal is not available, please try again later"},
			Operator:   prompt.Text{ZH: "终端数据文件被占用，请联系维护人员", EN: "The terminal's data file is in use; call maintenance"},
			Maintainer: prompt.Text{ZH: "队列文件被其他进程锁定（代理是否已在运行？）", EN: "Queue file locked by another process (is the agent already running?)"}},
		prompt.Message{Code: CodeWrongKey,
			Holder:     prompt.Text{ZH: "终端暂不可用，请联系工作人员", EN: "The terminal is not available, please ask staff"},
			Operator:   prompt.Text{ZH: "终端本地数据密钥不匹配，请联系维护人员", EN: "The terminal's local data key does not match; call maintenance"},
			Maintainer: prompt.Text{ZH: "队列加密密钥与队列文件不匹配，拒绝启动队列", EN: "Queue key does not match the queue file; queue not started"}},
		prompt.Message{Code: CodeTelemetryDropped,
			Holder:     prompt.Text{ZH: "业务办理正常", EN: "Service is normal"},
			Operator:   prompt.Text{ZH: "终端存储紧张，已丢弃最早的运行监测数据", EN: "Terminal storage is tight; the oldest monitoring data was dropped"},
			Maintainer: prompt.Text{ZH: "遥测通道超出额度，已丢弃最早的遥测记录", EN: "Telemetry lane over budget; oldest telemetry records dropped"}},
		prompt.Message{Code: CodeQuarantined,
			Holder:     prompt.Text{ZH: "业务已办理，数据正在核对", EN: "Your business is done; its data is being checked"},
			Operator:   prompt.Text{ZH: "一条业务记录被平台拒收，已隔离待处理，请联系维护人员", EN: "A business record was refused by the platform and quarantined; call maintenance"},
			Maintainer: prompt.Text{ZH: "平台永久拒收记录，已移入隔离区（sscagent queue quarantine list）", EN: "Record permanently rejected by the platform; moved to quarantine (sscagent queue quarantine list)"}},
		prompt.Message{Code: CodeIdempotencyConflict,
			Holder:     prompt.Text{ZH: "业务数据有误，请联系工作人员", EN: "There is a problem with this transaction, please ask staff"},
			Operator:   prompt.Text{ZH: "业务记录与此前提交的记录冲突，未保存，请联系维护人员", EN: "The business record conflicts with one submitted before and was not stored; call maintenance"},
			Maintainer: prompt.Text{ZH: "幂等键已用于另一条不同的记录（应用应为每条新记录使用新键）", EN: "Idempotency key already used for a different record (the application must use a new key for each new record)"}},
	)
}

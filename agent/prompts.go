package agent

import "github.com/sscagent/sscagent/internal/prompt"

// Prompt codes of the pipeline and the daemon (range 100000-199999; 100000-100004 are
// the general codes of package prompt).
const (
	CodeAuthOK            prompt.Code = 100100 // identity authenticated (no gate, or gate kind none)
	CodeGateOpened        prompt.Code = 100101 // authenticated and the gate opened
	CodeGateFailed        prompt.Code = 100102 // authenticated, the gate did not open
	CodeNotECard          prompt.Code = 100103 // a scan that is not an e-card code
	CodeNoPayment         prompt.Code = 100104 // a payment code scanned with no order waiting
	CodeCodeTimeout       prompt.Code = 100105 // no payment code within payment.codeTimeout
	CodeReadReady         prompt.Code = 100106 // kiosk/medical: the result is with the application
	CodeVoucher           prompt.Code = 100107 // medical: an NHSA e-voucher handed to the application
	CodeRecordQueued      prompt.Code = 100108 // a record the agent made is stored for backflow
	CodeRecordInvalid     prompt.Code = 100109 // a record the agent made failed validation
	CodePayerPending      prompt.Code = 100110 // a paid order's C.4 waits for the payer's details
	CodePartFailed        prompt.Code = 100111 // a part failed and is restarted
	CodePlatformDown      prompt.Code = 100112 // the platform stopped answering
	CodePlatformUp        prompt.Code = 100113 // the platform answers again
	CodeReady             prompt.Code = 100114 // the agent started
	CodeStopping          prompt.Code = 100115 // the agent is stopping
	CodeNoScene           prompt.Code = 100116 // a local API request names no usable scene
	CodeApplied           prompt.Code = 100117 // a configuration was applied in process
	CodeCardRead          prompt.Code = 100118 // a card was read (and authenticated locally)
	CodePaymentBusy       prompt.Code = 100119 // a scene already has an order waiting for a code
	CodeReadUnavailable   prompt.Code = 100120 // GET /v1/reads/{id}: unknown or expired
	CodeRecordQuarantined prompt.Code = 100121 // the business succeeded; its record failed App. C and is quarantined
	CodePlainSecrets      prompt.Code = 100122 // a non-test terminal keeps secrets in plain files
)

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(
		prompt.Message{Code: CodeAuthOK,
			Holder:     t("身份认证成功", "Identity confirmed"),
			Operator:   t("持卡人身份认证成功，可继续办理", "Holder authenticated; continue the service"),
			Maintainer: t("平台鉴权成功", "Platform authentication succeeded")},
		prompt.Message{Code: CodeGateOpened,
			Holder:     t("认证成功，请通行", "Identity confirmed, please pass"),
			Operator:   t("认证成功，闸机已打开", "Authenticated; the gate opened"),
			Maintainer: t("鉴权成功，闸机开启指令已执行", "Authentication succeeded; gate command executed")},
		prompt.Message{Code: CodeGateFailed,
			Holder:     t("认证成功，请联系工作人员开门", "Identity confirmed, please ask staff to open the gate"),
			Operator:   t("认证成功但闸机未打开，请人工放行并检查闸机", "Authenticated but the gate did not open; let the holder through by hand and check the gate"),
			Maintainer: t("闸机开启失败（只尝试一次，不重试）", "Gate opening failed (one attempt, never retried)")},
		prompt.Message{Code: CodeNotECard,
			Holder:     t("请出示电子社会保障卡二维码", "Please show your electronic social security card code"),
			Operator:   t("扫描的不是电子社会保障卡二维码，请持卡人出示电子社保卡码", "The scanned code is not an e-card code; ask for the e-card code"),
			Maintainer: t("扫码内容分类不是电子社会保障卡码，未提交平台", "Scanned code not classified as an e-SSC code; not sent to the platform")},
		prompt.Message{Code: CodeNoPayment,
			Holder:     t("请等待收银员发起收款后再出示付款码", "Please wait until the cashier starts the payment, then show your code"),
			Operator:   t("收到付款码但没有待收款订单，请先发起收款", "A payment code was scanned but no order is waiting; create the payment first"),
			Maintainer: t("无待支付订单，付款码未提交", "No order waiting for a code; code not submitted")},
		prompt.Message{Code: CodeCodeTimeout,
			Holder:     t("付款超时，请重新发起支付", "The payment timed out, please start again"),
			Operator:   t("等待付款码超时，订单已取消，未扣款", "No payment code in time; the order was cancelled, nothing charged"),
			Maintainer: t("订单等待付款码超过scenes[].payment.codeTimeout，已取消", "Order waited longer than scenes[].payment.codeTimeout for a code; cancelled")},
		prompt.Message{Code: CodeReadReady,
			Holder:     t("读取成功，请稍候", "Read successfully, please wait"),
			Operator:   t("身份信息已交业务系统处理", "The identity was handed to the business application"),
			Maintainer: t("读卡/扫码结果已通过本地接口提供给应用", "Read result offered to the application via the local API")},
		prompt.Message{Code: CodeVoucher,
			Holder:     t("已扫码，请稍候", "Code scanned, please wait"),
			Operator:   t("医保电子凭证已交结算系统处理", "The NHSA e-voucher was handed to the settlement application"),
			Maintainer: t("医保电子凭证码已通过本地接口提供给结算应用", "NHSA e-voucher offered to the settlement application via the local API")},
		prompt.Message{Code: CodeRecordQueued,
			Holder:     t("业务办理成功", "Done"),
			Operator:   t("业务记录已保存，将回流至平台", "Business record stored; it will flow back to the platform"),
			Maintainer: t("记录已落盘入队待回流", "Record durably queued for backflow")},
		prompt.Message{Code: CodeRecordInvalid,
			Holder:     t("系统繁忙，请稍后再试", "The system is busy, please try again later"),
			Operator:   t("业务记录生成失败，请联系维护人员", "The business record could not be made; call maintenance"),
			Maintainer: t("终端生成的记录未通过附录C校验（检查records与scenes配置）", "A record the terminal made failed Appendix C validation (check the records and scenes settings)")},
		prompt.Message{Code: CodeRecordQuarantined,
			Holder:     t("业务办理成功", "Done"),
			Operator:   t("业务已办理成功，但业务记录未通过附录C校验，已隔离待处理，请联系维护人员", "The business succeeded but its record failed the Appendix C check; it is quarantined: call maintenance"),
			Maintainer: t("记录未通过附录C校验已隔离（字段与规则见事件，sscagent queue quarantine 查看，修正配置后释放）", "Record failed Appendix C and is quarantined (fields and rules in the event; see the queue's quarantine, release after fixing the settings)")},
		prompt.Message{Code: CodePayerPending,
			Holder:     t("支付成功", "Payment successful"),
			Operator:   t("收款成功，支付记录待补全后回流", "Payment received; its record flows back once complete"),
			Maintainer: t("支付结算记录等待平台返回付款人信息，稍后重试", "C.4 record waits for the payer's details from the platform; retrying")},
		prompt.Message{Code: CodePartFailed,
			Holder:     t("系统繁忙，请稍后再试", "The system is busy, please try again later"),
			Operator:   t("终端部件异常，正在自动恢复", "A terminal component failed and is being restarted"),
			Maintainer: t("部件运行失败，按退避重启", "Part failed; restarting with backoff")},
		prompt.Message{Code: CodePlatformDown,
			Holder:     t("系统繁忙，请稍后再试", "The system is busy, please try again later"),
			Operator:   t("一卡通应用平台暂不可达，认证和支付暂停，记录将在恢复后回流", "The platform cannot be reached; authentication and payments pause, records flow back later"),
			Maintainer: t("平台调用无应答", "Platform calls get no answer")},
		prompt.Message{Code: CodePlatformUp,
			Holder:     t("服务已恢复", "Service restored"),
			Operator:   t("一卡通应用平台已恢复", "The platform answers again"),
			Maintainer: t("平台恢复应答，开始回流积压记录", "Platform answers again; draining the backlog")},
		prompt.Message{Code: CodeReady,
			Holder:     t("欢迎使用", "Welcome"),
			Operator:   t("终端已就绪", "Terminal ready"),
			Maintainer: t("代理已启动，所有部件已运行", "Agent started; every part running")},
		prompt.Message{Code: CodeStopping,
			Holder:     t("暂停服务", "Service paused"),
			Operator:   t("终端正在停止", "Terminal stopping"),
			Maintainer: t("代理正在停止", "Agent stopping")},
		prompt.Message{Code: CodeNoScene,
			Holder:     t("该业务暂不可办理", "This service is not available here"),
			Operator:   t("请求的业务场景未配置", "The requested scene is not configured on this terminal"),
			Maintainer: t("本地接口请求的场景不存在或类型不符", "Local API request names no scene of the right kind")},
		prompt.Message{Code: CodePlainSecrets,
			Holder:     t("欢迎使用", "Welcome"),
			Operator:   t("终端密钥以明文文件保存，请联系运维人员加固", "The terminal's keys are plain files; ask maintenance to seal them"),
			Maintainer: t("密钥为明文文件，磁盘被盗即泄露：请用 sscagent keys seal 封存为系统凭据", "Secrets are plain files a stolen disk reveals: seal them with sscagent keys seal (docs/deploy.md)")},
		prompt.Message{Code: CodeApplied,
			Holder:     t("欢迎使用", "Welcome"),
			Operator:   t("终端配置已更新", "Terminal configuration updated"),
			Maintainer: t("新配置已在进程内生效，受影响部件已重建", "New configuration applied in process; affected parts rebuilt")},
		prompt.Message{Code: CodeCardRead,
			Holder:     t("读卡成功，正在认证，请稍候", "Card read, authenticating, please wait"),
			Operator:   t("读卡成功，正在平台鉴权", "Card read; authenticating with the platform"),
			Maintainer: t("读卡及卡内部认证成功", "Card read and internally authenticated")},
		prompt.Message{Code: CodePaymentBusy,
			Holder:     t("请稍候，正在处理上一笔支付", "Please wait, the previous payment is being handled"),
			Operator:   t("该场景已有订单在等待付款码，请先完成或取消", "An order of this scene is already waiting for a code; finish or cancel it first"),
			Maintainer: t("场景已有待付款码订单", "Scene already has an order waiting for a code")},
		prompt.Message{Code: CodeReadUnavailable,
			Holder:     t("请重新读卡或扫码", "Please read the card or scan the code again"),
			Operator:   t("读取结果不存在或已过期，请重新读卡或扫码", "The read result is unknown or expired; read or scan again"),
			Maintainer: t("读取结果已过期或编号不存在", "Read result expired or unknown id")},
	)
}

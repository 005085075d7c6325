package payment

import "github.com/sscagent/sscagent/internal/prompt"

// Prompt codes of payments (500000-599999).
const (
	CodePaid         prompt.Code = 500000 // SUCCESS
	CodeWaitingCode  prompt.Code = 500001 // CREATED: show the payment code
	CodePaying       prompt.Code = 500002 // SENT
	CodeChecking     prompt.Code = 500003 // UNKNOWN, QUERYING
	CodeReversing    prompt.Code = 500004 // REVERSING
	CodeReversed     prompt.Code = 500005 // REVERSED
	CodeFailed       prompt.Code = 500006 // FAILED
	CodeNeedsManual  prompt.Code = 500007 // NEEDS_MANUAL
	CodeCancelled    prompt.Code = 500008 // FAILED by a cashier cancel before a code
	CodeCodeUsed     prompt.Code = 500009 // ErrCodeUsed
	CodeSettled      prompt.Code = 500010 // NEEDS_MANUAL settled by a person (Settle)
	CodeRefunding    prompt.Code = 500011 // a refund SENT, UNKNOWN or QUERYING
	CodeRefunded     prompt.Code = 500012 // a refund SUCCESS
	CodeRefundFailed prompt.Code = 500013 // a refund FAILED: nothing refunded
	CodeRefundManual prompt.Code = 500014 // a refund NEEDS_MANUAL
	CodeNoSuchOrder  prompt.Code = 500015 // ErrNotFound: no order or refund with that number
)

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(
		prompt.Message{Code: CodePaid,
			Holder:     t("支付成功", "Payment successful"),
			Operator:   t("收款成功", "Payment received"),
			Maintainer: t("支付成功", "Payment succeeded")},
		prompt.Message{Code: CodeWaitingCode,
			Holder:     t("请出示电子社保卡付款码", "Please show your e-SSC payment code"),
			Operator:   t("等待持卡人出示付款码", "Waiting for the holder's payment code"),
			Maintainer: t("订单已创建，等待付款码", "Order created, waiting for a payment code")},
		prompt.Message{Code: CodePaying,
			Holder:     t("正在支付，请稍候", "Paying, please wait"),
			Operator:   t("支付处理中，请勿重复收款", "Payment in progress; do not charge again"),
			Maintainer: t("支付请求已发送", "Pay request sent")},
		prompt.Message{Code: CodeChecking,
			Holder:     t("正在确认支付结果，请稍候，如需输入密码请在手机上完成", "Confirming the payment; if asked, enter your password on your phone"),
			Operator:   t("支付结果待确认，正在查询，请勿重复收款", "Payment result pending; querying. Do not charge again"),
			Maintainer: t("支付结果未知或用户支付中，按订单号查询", "Outcome unknown or user paying; querying by order number")},
		prompt.Message{Code: CodeReversing,
			Holder:     t("支付未完成，正在撤销，请稍候", "Payment not completed; cancelling, please wait"),
			Operator:   t("支付未确认，正在撤销订单，已扣款将原路退回", "Payment not confirmed; reversing the order, any amount taken is refunded"),
			Maintainer: t("查询超时或收银员取消，发起撤销", "Query deadline or cashier cancel; reversing")},
		prompt.Message{Code: CodeReversed,
			Holder:     t("支付已撤销，如已扣款将原路退回", "Payment cancelled; any amount taken is refunded"),
			Operator:   t("订单已撤销，未收款，请重新发起收款", "Order reversed, not paid; start a new payment"),
			Maintainer: t("订单已撤销", "Order reversed")},
		prompt.Message{Code: CodeFailed,
			Holder:     t("支付失败，请重试或更换支付方式", "Payment failed; try again or use another way to pay"),
			Operator:   t("支付失败，未扣款，可请持卡人刷新付款码后重新收款", "Payment failed, nothing charged; ask for a fresh code and try again"),
			Maintainer: t("支付失败（平台拒绝或未送达）", "Payment failed (refused by the platform or not delivered)")},
		prompt.Message{Code: CodeNeedsManual,
			Holder:     t("支付结果待核实，请联系工作人员", "Payment result to be checked; please ask staff"),
			Operator:   t("支付结果无法确认且撤销未完成，请记录订单号并联系维护人员人工核对", "Result unknown and reversal incomplete; note the order number and call maintenance"),
			Maintainer: t("撤销重试用尽，需人工与平台对账", "Reverse retries exhausted; settle manually with the platform")},
		prompt.Message{Code: CodeSettled,
			Holder:     t("支付结果已核实", "Payment result checked"),
			Operator:   t("待核实订单已人工处理完毕", "The order to be checked was settled by staff"),
			Maintainer: t("需人工处理的订单已由人员核对并登记结果", "Order needing a person settled; the outcome is recorded")},
		prompt.Message{Code: CodeCancelled,
			Holder:     t("支付已取消", "Payment cancelled"),
			Operator:   t("订单已取消，未扣款", "Order cancelled, nothing charged"),
			Maintainer: t("收银员在提交付款码前取消订单", "Cancelled by the cashier before a code was submitted")},
		prompt.Message{Code: CodeRefunding,
			Holder:     t("正在退款，请稍候", "Refunding, please wait"),
			Operator:   t("退款处理中，请勿重复退款", "Refund in progress; do not refund again"),
			Maintainer: t("退款请求已发送或结果待查询", "Refund sent or its outcome being queried")},
		prompt.Message{Code: CodeRefunded,
			Holder:     t("退款成功，款项将原路退回", "Refunded; the money goes back the way it came"),
			Operator:   t("退款成功", "Refund done"),
			Maintainer: t("平台确认退款成功", "Platform confirmed the refund")},
		prompt.Message{Code: CodeRefundFailed,
			Holder:     t("退款未成功，请联系工作人员", "The refund did not go through, please ask staff"),
			Operator:   t("退款失败，未退款，可核对后重新发起", "Refund failed, nothing refunded; check and try again"),
			Maintainer: t("退款被平台拒绝或未送达", "Refund refused by the platform or not delivered")},
		prompt.Message{Code: CodeRefundManual,
			Holder:     t("退款结果待核实，请联系工作人员", "Refund result to be checked; please ask staff"),
			Operator:   t("退款结果无法确认，请记录退款单号并联系维护人员与平台核对", "Refund result unknown; note the refund number and call maintenance to check with the platform"),
			Maintainer: t("退款结果查询超时，需人工与平台对账", "Refund outcome not confirmed in time; settle manually with the platform")},
		prompt.Message{Code: CodeNoSuchOrder,
			Holder:     t("未找到该笔业务，请联系工作人员", "This transaction was not found, please ask staff"),
			Operator:   t("本终端没有该订单号或退款单号，请核对后重试", "This terminal has no order or refund with that number; check it and try again"),
			Maintainer: t("支付文件中无此订单或退款", "No such order or refund in the payment file")},
		prompt.Message{Code: CodeCodeUsed,
			Holder:     t("付款码已使用，请刷新付款码后重试", "This code was already used; please refresh your payment code"),
			Operator:   t("付款码重复，请持卡人刷新付款码", "Duplicate payment code; ask the holder to refresh it"),
			Maintainer: t("付款码已提交过，拒绝重复提交", "Payment code already submitted; not submitted twice")},
	)
}

package agent

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Retention events: data past its retention period was deleted.
const (
	// KindQuarantinePruned: quarantined records past queue.quarantineRetention.
	KindQuarantinePruned event.Kind = "queue.quarantine-pruned"
	// KindPaymentsPruned: final, recorded orders (with their refunds) past payment.retention.
	KindPaymentsPruned event.Kind = "payment.pruned"
	// KindMedicalPruned: ended medical settlements past agent.medicalRetention.
	KindMedicalPruned event.Kind = "medical.pruned"
)

// Prompts of the retention events.
const (
	CodeQuarantinePruned prompt.Code = 100190
	CodePaymentsPruned   prompt.Code = 100191
	CodeMedicalPruned    prompt.Code = 100192
)

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(prompt.Message{Code: CodeQuarantinePruned,
		Holder:     t("欢迎使用", "Welcome"),
		Operator:   t("隔离区中超过保留期限的记录已删除", "Quarantined records past their retention period were deleted"),
		Maintainer: t("已按 queue.quarantineRetention 删除过期的隔离记录", "Quarantined records older than queue.quarantineRetention deleted")})
	prompt.Register(prompt.Message{Code: CodePaymentsPruned,
		Holder:     t("欢迎使用", "Welcome"),
		Operator:   t("超过保留期限的已完成订单已删除", "Finished orders past their retention period were deleted"),
		Maintainer: t("已按 payment.retention 删除已完成并已生成记录的订单及其退款", "Final, recorded orders and their refunds older than payment.retention deleted")})
	prompt.Register(prompt.Message{Code: CodeMedicalPruned,
		Holder:     t("欢迎使用", "Welcome"),
		Operator:   t("超过保留期限的医保结算日志已删除", "Medical settlements past their retention period were deleted"),
		Maintainer: t("已按 agent.medicalRetention 删除已结束的医保结算日志", "Ended medical settlements older than agent.medicalRetention deleted")})
}

// retention is the part that deletes quarantined records and ended medical settlements
// past their retention: at start, then every hour. (The payment manager prunes its own
// orders on the same schedule and reports through paymentsPruned.)
type retention struct{ a *Agent }

// retentionEvery is the period of the retention part.
const retentionEvery = time.Hour

func (retention) Name() string { return "retention" }

func (r retention) Run(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		r.a.pruneQuarantine(ctx)
		r.a.pruneMedical(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneQuarantine runs one pass; a failure is logged and tried again next time.
func (a *Agent) pruneQuarantine(ctx context.Context) {
	keep := a.Config().Queue.QuarantineRetention.D()
	n, err := a.queue.PruneQuarantine(ctx, keep)
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("quarantine retention", "err", err)
	case n > 0:
		a.emit(KindQuarantinePruned, "", "", true, CodeQuarantinePruned, "",
			map[string]any{"count": n, "retentionHours": keep.Hours()})
	}
}

// pruneMedical runs one pass over the medical journal, when there is one.
func (a *Agent) pruneMedical(ctx context.Context) {
	if _, err := os.Stat(filepath.Join(a.Config().Agent.StateDir, medicalFile)); err != nil {
		return // no journal: nothing settled on this terminal yet
	}
	j, err := a.medicalJournal()
	if err != nil {
		a.log.Warn("medical retention", "err", err)
		return
	}
	keep := a.Config().Agent.MedicalRetention.D()
	n, err := j.prune(ctx, time.Now().Add(-keep))
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("medical retention", "err", err)
	case n > 0:
		a.emit(KindMedicalPruned, "", "", true, CodeMedicalPruned, "",
			map[string]any{"count": n, "retentionHours": keep.Hours()})
	}
}

// paymentsPruned publishes the payment manager's pruning.
func (a *Agent) paymentsPruned(orders, refunds int) {
	a.emit(KindPaymentsPruned, "", "", true, CodePaymentsPruned, "",
		map[string]any{"orders": orders, "refunds": refunds, "retentionHours": a.Config().Payment.Retention.D().Hours()})
}

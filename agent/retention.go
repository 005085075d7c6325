package agent

import (
	"context"
	"time"

	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/prompt"
)

// KindQuarantinePruned: quarantined records past queue.quarantineRetention were deleted.
const KindQuarantinePruned event.Kind = "queue.quarantine-pruned"

// CodeQuarantinePruned is the prompt of KindQuarantinePruned.
const CodeQuarantinePruned prompt.Code = 100190

func init() {
	t := func(zh, en string) prompt.Text { return prompt.Text{ZH: zh, EN: en} }
	prompt.Register(prompt.Message{Code: CodeQuarantinePruned,
		Holder:     t("欢迎使用", "Welcome"),
		Operator:   t("隔离区中超过保留期限的记录已删除", "Quarantined records past their retention period were deleted"),
		Maintainer: t("已按 queue.quarantineRetention 删除过期的隔离记录", "Quarantined records older than queue.quarantineRetention deleted")})
}

// retention is the part that deletes quarantined records past their retention: at
// start, then every hour.
type retention struct{ a *Agent }

// retentionEvery is the period of the retention part.
const retentionEvery = time.Hour

func (retention) Name() string { return "retention" }

func (r retention) Run(ctx context.Context) error {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		r.a.pruneQuarantine(ctx)
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

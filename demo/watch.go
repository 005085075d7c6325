package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// LedgerWatch reports what the sandbox platform accepts as it happens: backflow
// records stored (and duplicates it de-duplicated), records it refused, and every state
// an order reaches. It compares snapshots of the sandbox's ledger.
type LedgerWatch struct {
	records  map[string]int    // record id -> times received
	rejected int               // rejected records seen
	orders   map[string]string // order key -> state
}

// NewLedgerWatch returns a watch that has seen nothing.
func NewLedgerWatch() *LedgerWatch {
	return &LedgerWatch{records: map[string]int{}, orders: map[string]string{}}
}

// LedgerLine is one change of the ledger, ready to print.
type LedgerLine struct {
	Text  string
	Style Style
}

// Diff returns what changed since the previous snapshot, records first (oldest first),
// then orders.
func (w *LedgerWatch) Diff(l platformsim.Ledger) []LedgerLine {
	var out []LedgerLine
	ids := slices.SortedFunc(maps.Keys(l.Records), func(a, b string) int {
		if c := l.Records[a].FirstAt.Compare(l.Records[b].FirstAt); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, id := range ids {
		r := l.Records[id]
		seen, ok := w.records[id]
		switch {
		case !ok:
			out = append(out, LedgerLine{"record stored " + id + ": " + DescribeRecord(r.Kind, r.Record), Accent})
		case r.Received > seen:
			out = append(out, LedgerLine{fmt.Sprintf("record %s received again: de-duplicated (%d duplicate(s))", id, r.Duplicates), Warn})
		}
		w.records[id] = r.Received
	}
	for _, r := range l.RejectedRecords[min(w.rejected, len(l.RejectedRecords)):] {
		out = append(out, LedgerLine{fmt.Sprintf("record refused %s (%s): %s", r.RecordID, r.Kind, mask.Text(r.Reason)), Bad})
	}
	w.rejected = len(l.RejectedRecords)
	for _, k := range slices.Sorted(maps.Keys(l.Payments)) {
		p := l.Payments[k]
		if w.orders[k] == p.State {
			continue
		}
		w.orders[k] = p.State
		text := fmt.Sprintf("order %s %s", p.OrderNo, p.State)
		if p.Amount != "" {
			text += " ¥" + p.Amount
		}
		if p.Payer != "" {
			text += " payer " + p.Payer
		}
		if p.TradeNo != "" {
			text += " trade " + p.TradeNo
		}
		if p.FailReason != "" {
			text += " (" + mask.Text(p.FailReason) + ")"
		}
		s := Accent
		switch p.State {
		case "FAILED", "CLOSED", "REVERSED":
			s = Warn
		}
		out = append(out, LedgerLine{text, s})
	}
	return out
}

// DescribeRecord summarises a stored backflow record, masked: its Appendix C table,
// the holder (masked name and ID number) and what it records.
func DescribeRecord(kind string, raw json.RawMessage) string {
	r, err := records.Parse(records.Kind(kind), raw)
	if err != nil {
		return kind + " (unreadable: " + mask.Text(err.Error()) + ")"
	}
	switch m := r.Masked().(type) {
	case *records.Credential:
		return fmt.Sprintf("C.3 办事凭证 %s %s %s, %s", m.Name, m.SocialSecurityNo, m.CredentialType, m.BusinessTime)
	case *records.Payment:
		return fmt.Sprintf("C.4 支付结算 ¥%s %s %s %s, %s", m.Amount, m.PayerName, m.PayerSocialSecurityNo, m.SettlementMethod, m.PaidTime)
	case *records.Benefit:
		return fmt.Sprintf("C.5 待遇发放 %s %s", m.Name, m.SocialSecurityNo)
	}
	return kind
}

// WatchLedger prints the sandbox ledger's changes until ctx ends, looking every
// period.
func WatchLedger(ctx context.Context, sb *platformsim.Sandbox, c *Console, period time.Duration) {
	w := NewLedgerWatch()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		for _, l := range w.Diff(sb.Ledger()) {
			c.Line("ledger", l.Style, "%s", l.Text)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WatchBroker prints what terminal management sees on the broker under prefix: every
// presence message (birth, death) and telemetry, compactly, starting with the retained
// ones. It returns once subscribed; the function it returns stops the printing.
func WatchBroker(b *Broker, prefix string, c *Console) (stop func(), err error) {
	var stopped atomic.Bool
	stop = func() { stopped.Store(true) }
	if err := watchTopic(b, mgmt.Fleet(prefix, mgmt.KindState), &stopped, c, FormatState); err != nil {
		return stop, err
	}
	return stop, watchTopic(b, mgmt.Fleet(prefix, mgmt.KindTelemetry), &stopped, c, FormatTelemetry)
}

// watchTopic prints every message on filter decoded as a T, until stopped is set. An
// empty payload (a cleared retained message) is skipped.
func watchTopic[T any](b *Broker, filter string, stopped *atomic.Bool, c *Console, format func(T) (string, Style)) error {
	err := b.Subscribe(filter, func(topic string, payload []byte, _ bool) {
		if len(payload) == 0 || stopped.Load() {
			return
		}
		var v T
		if err := json.Unmarshal(payload, &v); err != nil {
			c.Line("mgmt", Warn, "unreadable message on %s: %v", topic, err)
			return
		}
		text, s := format(v)
		c.Line("mgmt", s, "%s", text)
	})
	if err != nil {
		return fmt.Errorf("demo: broker: %w", err)
	}
	return nil
}

// FormatState renders a presence message.
func FormatState(st mgmt.State) (string, Style) {
	if st.Status != mgmt.StatusOnline {
		return fmt.Sprintf("○ offline (%s), epoch %d", st.Reason, st.Epoch), Warn
	}
	var b strings.Builder
	b.WriteString("● online: birth")
	if t := st.Terminal; t != nil {
		fmt.Fprintf(&b, " %s %s %s", t.ID, t.DeviceType, t.Site)
	}
	fmt.Fprintf(&b, ", epoch %d", st.Epoch)
	if len(st.Scenes) > 0 {
		names := make([]string, len(st.Scenes))
		for i, s := range st.Scenes {
			names[i] = s.Name + "(" + s.Kind + ")"
		}
		b.WriteString(", scenes " + strings.Join(names, " "))
	}
	if st.Software != nil {
		b.WriteString(", sscagent " + st.Software.Version)
	}
	return b.String(), Accent
}

// FormatTelemetry renders a telemetry message on one line.
func FormatTelemetry(t mgmt.Telemetry) (string, Style) {
	var b strings.Builder
	s := Accent
	b.WriteString("telemetry: " + t.Health.Status)
	if len(t.Health.Problems) > 0 {
		b.WriteString(" (" + strings.Join(t.Health.Problems, "; ") + ")")
		s = Warn
	}
	cards := 0
	for _, r := range t.Readers {
		if r.Card && r.Role != "psam" {
			cards++
		}
	}
	if len(t.Readers) > 0 {
		fmt.Fprintf(&b, " · readers %d (%d with a card)", len(t.Readers), cards)
	}
	for _, p := range t.PSAMs {
		fmt.Fprintf(&b, " · PSAM %s", p.Status)
	}
	for _, sc := range t.Scanners {
		state := "connected"
		if !sc.Connected {
			state = "disconnected"
		}
		fmt.Fprintf(&b, " · scanner %s %s, %d scans", sc.Name, state, sc.Scans)
	}
	if q := t.Queue; q != nil {
		fmt.Fprintf(&b, " · queue %d", q.Depth)
		if q.Quarantined > 0 {
			fmt.Fprintf(&b, " (%d quarantined)", q.Quarantined)
		}
	}
	if p := t.Platform; p != nil {
		switch {
		case p.Up:
			b.WriteString(" · platform up")
		case p.Unknown:
			b.WriteString(" · platform not called yet")
		default:
			b.WriteString(" · platform DOWN")
		}
	}
	pr := t.Process
	fmt.Fprintf(&b, " · cpu %.1f%% rss %.1f MiB, %d goroutines", pr.CPUPercent, float64(pr.RSSBytes)/(1<<20), pr.Goroutines)
	return b.String(), s
}

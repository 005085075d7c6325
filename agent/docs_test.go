package agent

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/payment"
)

// TestDocsListEveryKindAndCode keeps docs/agent.md honest: every event kind the agent
// declares, every payment event kind, every card reader kind and every prompt code of
// the agent's range is in it.
func TestDocsListEveryKindAndCode(t *testing.T) {
	b, err := os.ReadFile("../docs/agent.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var kinds []string
	fs := token.NewFileSet()
	f, err := parser.ParseFile(fs, "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Values) == 1 {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING && strings.HasPrefix(vs.Names[0].Name, "Kind") {
				s, _ := strconv.Unquote(lit.Value)
				kinds = append(kinds, s)
			}
		}
		return true
	})
	if len(kinds) < 20 {
		t.Fatalf("found only %d kinds in events.go", len(kinds))
	}
	for _, st := range []payment.State{payment.Created, payment.Sent, payment.Unknown, payment.Querying, payment.Reversing,
		payment.Success, payment.Failed, payment.Reversed, payment.NeedsManual} {
		kinds = append(kinds, string(paymentKind(payment.Order{State: st})))
	}
	for _, k := range []readers.EventKind{readers.ServiceUp, readers.ServiceDown, readers.ReaderAttached, readers.ReaderRemoved,
		readers.CardInserted, readers.CardRemoved, readers.PSAMReady, readers.PSAMFailed, readers.PSAMRemoved} {
		kinds = append(kinds, string(k))
	}
	kinds = append(kinds, string(paymentKind(payment.Order{State: payment.NeedsManual, Settled: &payment.Settlement{}})))
	kinds = append(kinds, "payment.cancelled", "backflow.outage", "backflow.resumed", "backflow.quarantined")
	for _, k := range kinds {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/agent.md does not list event kind %s", k)
		}
	}
	for _, m := range prompt.Catalogue() {
		if m.Code >= 100100 && m.Code < 200000 && !strings.Contains(doc, fmt.Sprintf("%06d", int(m.Code))) {
			t.Errorf("docs/agent.md does not list prompt %06d", int(m.Code))
		}
	}
}

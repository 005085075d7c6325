package demo

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/platformsim"
)

func (c *Controls) fault(args []string) {
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform")
		return
	}
	switch {
	case len(args) == 0:
		st := c.Sandbox.Faults()
		if len(st.Rules) == 0 {
			c.Console.Line("demo", Plain, "no faults installed (fired so far: %v)", st.Fired)
			return
		}
		for _, r := range st.Rules {
			j, _ := json.Marshal(r)
			c.Console.Line("demo", Plain, "fault %s", j)
		}
	case len(args) == 1 && args[0] == "clear":
		c.Sandbox.ClearFaults()
		c.Console.Line("demo", Plain, "faults cleared: the sandbox behaves again")
	default:
		var fs []platformsim.Fault
		for _, a := range args {
			f, err := platformsim.ParseFault(a)
			if err != nil {
				c.Console.Line("demo", Warn, "%v", err)
				return
			}
			fs = append(fs, f)
		}
		if err := c.Sandbox.AddFaults(fs...); err != nil {
			c.Console.Line("demo", Bad, "%v", err)
			return
		}
		c.Console.Line("demo", Warn, "fault installed: %s", strings.Join(args, " "))
	}
}

func (c *Controls) ledger() {
	if c.Sandbox == nil {
		c.Console.Line("demo", Warn, "no sandbox platform")
		return
	}
	l := c.Sandbox.Ledger()
	kinds := map[string]int{}
	dups := 0
	for _, r := range l.Records {
		kinds[r.Kind]++
		dups += r.Duplicates
	}
	c.Console.Line("ledger", Accent, "records stored %d (by kind: %s), duplicates de-duplicated %d, refused %d",
		len(l.Records), tally(kinds), dups, len(l.RejectedRecords))
	for _, k := range slices.Sorted(maps.Keys(l.Payments)) {
		p := l.Payments[k]
		c.Console.Line("ledger", Accent, "order %s %s ¥%s payer %s", p.OrderNo, p.State, p.Amount, p.Payer)
	}
	var bal []string
	for _, p := range People {
		if !p.ECard {
			continue
		}
		bal = append(bal, mask.Name(p.Name)+" ¥"+c.Sandbox.Balance(p.IDNumber))
	}
	c.Console.Line("ledger", Accent, "e-card balances: %s", strings.Join(bal, ", "))
	c.Console.Line("ledger", Accent, "calls answered 000000: %s", tally(l.Requests))
}

// tally renders counts as "a 1, b 2", by key, or "none".
func tally(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

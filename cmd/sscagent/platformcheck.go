package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

// platformProfile is "sscagent platform profile show": the effective profile as YAML.
func platformProfile(args []string, out, errOut io.Writer) int {
	const usage = "platform profile show [--config FILE | --profile NAME|FILE]"
	if _, rc := prog.Subcommand(args, usage, errOut, "show"); rc >= 0 {
		return rc
	}
	fs := newFlags("platform profile show", usage, errOut)
	path := fs.String("config", "", "configuration file: show the profile its platform section speaks (default "+defaultConfigPath()+" when it exists)")
	ref := fs.String("profile", "", "show this built-in profile or profile file instead")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	var (
		p      protocol.Profile
		source string
		err    error
	)
	switch {
	case *ref != "" && *path != "":
		fmt.Fprintln(errOut, "give --config or --profile, not both")
		return cli.ExitUsage
	case *ref != "":
		source = *ref
		if p, err = protocol.LoadProfile(*ref); err == nil {
			p = p.WithDefaults()
		}
	default:
		cfgPath := *path
		if cfgPath == "" {
			cfgPath = defaultConfigPath()
			if _, serr := os.Stat(cfgPath); serr != nil {
				cfgPath = "" // no configuration here: the default profile
			}
		}
		if cfgPath == "" {
			source = protocol.ProfileSSCSim + " (the default; no configuration file)"
			if p, err = protocol.LoadProfile(""); err == nil {
				p = p.WithDefaults()
			}
			break
		}
		cfg, lerr := agent.LoadConfig(cfgPath)
		if lerr != nil {
			printConfigError(errOut, cfgPath, lerr)
			return cli.ExitFail
		}
		source = cfg.Platform.Profile
		if source == "" {
			source = protocol.ProfileSSCSim
		}
		source = fmt.Sprintf("platform.profile of %s: %s", cfgPath, source)
		for _, w := range cfg.Platform.Deprecations() {
			fmt.Fprintln(errOut, "warning:", w)
			source += ", with deprecated platform settings laid over it"
		}
		p, err = cfg.Platform.EffectiveProfile()
	}
	if err != nil {
		printConfigError(errOut, source, err)
		return cli.ExitFail
	}
	b, err := p.YAML()
	if err != nil {
		fmt.Fprintf(errOut, "sscagent platform profile show: %v\n", err)
		return cli.ExitFail
	}
	fmt.Fprintf(out, "# effective profile %q: %s, after defaults\n%s", p.Name, source, b)
	return cli.ExitOK
}

// checkCall is one harmless call of "platform check": it changes nothing the
// platform keeps (unknown identities, invalid codes, orders that are closed again).
type checkCall struct {
	op   protocol.Op
	data map[string]string
	list map[string][]map[string]string
}

func checkCalls(terminal string, now time.Time) []checkCall {
	order := fmt.Sprintf("%s-CHECK-%d", terminal, now.Unix())
	if len(order) > 32 {
		order = order[len(order)-32:]
	}
	return []checkCall{
		{op: protocol.OpCardAuth, data: map[string]string{"idNumber": "11010519491231002X", "name": "核验", "cardNo": "X00000000",
			"cardId": "00000000000000000000000000000000"}},
		{op: protocol.OpCardInternalAuth, data: map[string]string{"step1": "check|"}},
		{op: protocol.OpECardDecode, data: map[string]string{"qrCode": "SSCAGENT-PLATFORM-CHECK"}},
		{op: protocol.OpOrderQuery, data: map[string]string{"orderNo": order + "Q"}},
		{op: protocol.OpMicropay, data: map[string]string{"orderNo": order + "P", "amount": "0.01", "qrCode": "SSCAGENT-PLATFORM-CHECK", "subject": "platform check"}},
		{op: protocol.OpReverse, data: map[string]string{"orderNo": order + "P"}},
		{op: protocol.OpMerchantQR, data: map[string]string{"orderNo": order + "M", "amount": "0.01", "subject": "platform check"}},
		{op: protocol.OpReverse, data: map[string]string{"orderNo": order + "M"}},
		{op: protocol.OpBackflow, list: map[string][]map[string]string{"records": {{"recordId": order + "B", "kind": "credential", "record": "{}"}}}},
	}
}

// checkRow is one line of the table.
type checkRow struct {
	Op         protocol.Op `json:"op"`
	Reachable  bool        `json:"reachable"`
	Verified   bool        `json:"signatureVerified"`
	Authorised bool        `json:"authorised"`
	Millis     float64     `json:"ms"`
	MsgCode    string      `json:"msgCode,omitempty"`
	Note       string      `json:"note,omitempty"`
}

// platformCheck is "sscagent platform check": a harmless call per operation and a
// table of what it proved.
func platformCheck(args []string, out, errOut io.Writer) int {
	fs := newFlags("platform check", "platform check [--config FILE] [--json]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	for _, w := range cfg.Platform.Deprecations() {
		fmt.Fprintln(errOut, "warning:", w)
	}
	var last platform.Exchange
	client, err := platform.New(cfg.Platform, platform.Options{TerminalID: cfg.Terminal.ID, AllowTestKeys: cfg.Terminal.Test,
		Observe: func(e platform.Exchange) { last = e }})
	if err != nil {
		fmt.Fprintf(errOut, "sscagent platform check: %v\n", err)
		return cli.ExitFail
	}
	defer client.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rows []checkRow
	ok := true
	for _, cc := range checkCalls(cfg.Terminal.ID, time.Now()) {
		var d protocol.Data
		for k, v := range cc.data {
			d.Set(k, v)
		}
		for k, l := range cc.list {
			if d.Lists == nil {
				d.Lists = map[string][]map[string]string{}
			}
			d.Lists[k] = l
		}
		last = platform.Exchange{}
		start := time.Now()
		_, err := client.Call(ctx, cc.op, d)
		row := checkRow{Op: cc.op, Millis: float64(time.Since(start).Microseconds()/100) / 10, Reachable: last.HTTPStatus != 0}
		var e *platform.Error
		switch {
		case err == nil:
			row.Verified, row.Authorised, row.Note = true, true, "success"
		case errors.As(err, &e) && e.MsgCode != "":
			row.MsgCode = e.MsgCode
			row.Verified = e.MsgCode != protocol.CodeBadSignature
			row.Authorised = e.MsgCode != protocol.CodeNoChannel && e.MsgCode != protocol.CodeNoService
			row.Note = mask.Text(e.Msg)
		default:
			row.Note = mask.Text(err.Error())
		}
		ok = ok && row.Reachable && row.Verified && row.Authorised
		rows = append(rows, row)
		if ctx.Err() != nil {
			break
		}
	}
	if *asJSON {
		writeIndented(out, rows)
	} else {
		yes := map[bool]string{true: "yes", false: "NO"}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "operation\treachable\tsignature verified\tauthorised\tround trip\tmsgCode\tnote\n")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fms\t%s\t%s\n", r.Op, yes[r.Reachable], yes[r.Verified], yes[r.Authorised], r.Millis, r.MsgCode, r.Note)
		}
		tw.Flush()
		fmt.Fprintf(out, "profile %s, %s\n", client.Profile().Name, cfg.Platform.BaseURL)
	}
	if !ok {
		return cli.ExitFail
	}
	return cli.ExitOK
}

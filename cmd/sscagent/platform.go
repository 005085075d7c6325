package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

const platformUsage = "platform call OPERATION --config FILE --data JSON [--save-request FILE] [--json] | platform ops | platform check [--config FILE] | platform profile show [--config FILE]"

func init() {
	prog.Register("platform", "the platform: platform call OPERATION --config FILE --data JSON | ops | check | profile show", cmdPlatform)
}

func cmdPlatform(args []string, out, errOut io.Writer) int {
	sub, rc := prog.Subcommand(args, platformUsage, errOut, "call", "ops", "check", "profile")
	if rc >= 0 {
		return rc
	}
	switch sub {
	case "ops":
		return platformOps(out)
	case "check":
		return platformCheck(args[1:], out, errOut)
	case "profile":
		return platformProfile(args[1:], out, errOut)
	}
	args = args[1:]
	if _, rc := prog.Subcommand(args, platformUsage+"\n\nOPERATION is one of: "+strings.Join(opNames(), ", "), errOut, opNames()...); rc >= 0 {
		return rc
	}
	opName := protocol.Op(args[0])
	fs := newFlags("platform call", "platform call OPERATION --config FILE (--data JSON | --data-file FILE) [flags]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	dataArg := fs.String("data", "", `the operation's data as a JSON object of strings, e.g. '{"orderNo":"T1-1"}'`)
	dataFile := fs.String("data-file", "", "read the data from this file instead")
	saveReq := fs.String("save-request", "", "also write the exact request body sent (the last attempt) to this file")
	saveResp := fs.String("save-response", "", "also write the response body received to this file")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	timeout := fs.Duration("timeout", 0, "override platform.timeout")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	op, ok := protocol.LookupOp(opName)
	if !ok {
		fmt.Fprintf(errOut, "sscagent platform call: unknown operation %q; one of %s\n", opName, strings.Join(opNames(), ", "))
		return cli.ExitUsage
	}
	if (*dataArg == "") == (*dataFile == "") {
		fmt.Fprintln(errOut, "give exactly one of --data and --data-file")
		return cli.ExitUsage
	}
	text := *dataArg
	if *dataFile != "" {
		b, err := os.ReadFile(*dataFile)
		if err != nil {
			fmt.Fprintf(errOut, "sscagent platform call: %v\n", err)
			return cli.ExitFail
		}
		text = string(b)
	}
	data, err := protocol.ParseData(strings.TrimSpace(text))
	if err != nil {
		fmt.Fprintf(errOut, "sscagent platform call: --data: %v (every value is a JSON string; lists are arrays of objects of strings)\n", err)
		return cli.ExitUsage
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	if *timeout > 0 {
		cfg.Platform.Timeout = config.Duration(*timeout)
	}
	var last platform.Exchange
	client, err := platform.New(cfg.Platform, platform.Options{
		TerminalID:    cfg.Terminal.ID,
		AllowTestKeys: cfg.Terminal.Test,
		Observe:       func(e platform.Exchange) { last = e },
	})
	if err != nil {
		fmt.Fprintf(errOut, "sscagent platform call: %v\n", err)
		return cli.ExitFail
	}
	defer client.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	reply, callErr := client.Call(ctx, op.Op, data)
	elapsed := time.Since(start)
	rc = cli.ExitOK
	for _, s := range []struct {
		path string
		b    []byte
	}{{*saveReq, last.Request}, {*saveResp, last.Response}} {
		if s.path == "" {
			continue
		}
		if err := os.WriteFile(s.path, s.b, 0o600); err != nil {
			fmt.Fprintf(errOut, "sscagent platform call: %v\n", err)
			rc = cli.ExitFail
		}
	}
	if callErr != nil {
		printCallError(out, errOut, op, last, callErr, *asJSON)
		return cli.ExitFail
	}
	printReply(out, op, last, reply, elapsed, *asJSON)
	return rc
}

func opNames() []string {
	var out []string
	for _, o := range protocol.Operations() {
		out = append(out, string(o.Op))
	}
	return out
}

// maskedResult returns the result with every sensitive field masked by its rule, and
// fields the operation does not declare passed through mask.Text.
func maskedResult(op protocol.Operation, r protocol.Data) protocol.Data {
	m := r.Clone()
	known := map[string]bool{}
	for _, f := range op.Result {
		list, field, inList := strings.Cut(string(f.Path), "[].")
		if !inList {
			known[list] = true
			if v, ok := m.Fields[list]; ok && f.Sensitive != 0 {
				m.Fields[list] = f.Sensitive.Apply(v)
			}
			continue
		}
		known[list] = true
		for _, e := range m.Lists[list] {
			if v, ok := e[field]; ok && f.Sensitive != 0 {
				e[field] = f.Sensitive.Apply(v)
			}
		}
	}
	for k, v := range m.Fields {
		if !known[k] {
			m.Fields[k] = mask.Text(v)
		}
	}
	for k, l := range m.Lists {
		if !known[k] {
			for _, e := range l {
				for ek, ev := range e {
					e[ek] = mask.Text(ev)
				}
			}
		}
	}
	return m
}

type callOutput struct {
	Op        protocol.Op     `json:"op"`
	URL       string          `json:"url"`
	RequestID string          `json:"requestId"`
	Class     platform.Class  `json:"class"`
	MsgCode   string          `json:"msgCode,omitempty"`
	Msg       string          `json:"msg,omitempty"`
	Attempts  int             `json:"attempts,omitempty"`
	Millis    int64           `json:"ms,omitempty"`
	HTTP      int             `json:"httpStatus,omitempty"`
	Error     string          `json:"error,omitempty"`
	Prompt    *prompt.Prompts `json:"prompt,omitempty"`
	Result    *protocol.Data  `json:"result,omitempty"`
}

func printReply(out io.Writer, op protocol.Operation, ex platform.Exchange, r *platform.Reply, elapsed time.Duration, asJSON bool) {
	res := maskedResult(op, r.Result)
	o := callOutput{Op: op.Op, URL: ex.URL, RequestID: r.RequestID, Class: platform.ClassSuccess, MsgCode: r.MsgCode,
		Msg: r.Msg, Attempts: r.Attempts, Millis: elapsed.Milliseconds(), Result: &res}
	if asJSON {
		writeIndented(out, o)
		return
	}
	fmt.Fprintf(out, "operation  %s (%s)\nurl        %s\nrequestId  %s\nclass      success\nmsgCode    %s %s\nattempts   %d\ntime       %s\nresult:\n",
		op.Op, op.ZH, ex.URL, r.RequestID, r.MsgCode, r.Msg, r.Attempts, elapsed.Round(time.Millisecond))
	names := res.Names()
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	for _, n := range names {
		if v, ok := res.Fields[n]; ok {
			fmt.Fprintf(out, "  %-*s  %s\n", width, n, v)
			continue
		}
		for i, e := range res.Lists[n] {
			b, _ := json.Marshal(e)
			fmt.Fprintf(out, "  %s[%d]  %s\n", n, i, b)
		}
	}
}

func printCallError(out, errOut io.Writer, op protocol.Operation, ex platform.Exchange, err error, asJSON bool) {
	var e *platform.Error
	o := callOutput{Op: op.Op, URL: ex.URL, RequestID: ex.RequestID, Class: platform.ClassOf(err), Error: mask.Text(err.Error())}
	if errors.As(err, &e) {
		o.MsgCode, o.Msg, o.HTTP = e.MsgCode, e.Msg, e.HTTPStatus
	}
	p := prompt.Lookup(platform.PromptFor(err)).All(prompt.ZH)
	o.Prompt = &p
	if asJSON {
		writeIndented(out, o)
		return
	}
	fmt.Fprintf(errOut, "operation  %s (%s)\nurl        %s\nrequestId  %s\nclass      %s\n", op.Op, op.ZH, ex.URL, o.RequestID, o.Class)
	if o.MsgCode != "" {
		fmt.Fprintf(errOut, "msgCode    %s %s\n", o.MsgCode, o.Msg)
	}
	fmt.Fprintf(errOut, "error      %s\nprompt     %s\n", o.Error, p.Maintainer)
}

func writeIndented(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// platformOps prints every operation with its default path and parameters.
func platformOps(out io.Writer) int {
	for _, op := range protocol.Operations() {
		fmt.Fprintf(out, "%s  %s  POST %s\n", op.Op, op.ZH, op.Path)
		for _, part := range []struct {
			name string
			fs   []protocol.Field
		}{{"data", op.Data}, {"result", op.Result}} {
			for _, f := range part.fs {
				flags := []string{}
				if f.Required {
					flags = append(flags, "required")
				}
				if f.Sensitive != 0 {
					flags = append(flags, "SM4")
				}
				fmt.Fprintf(out, "  %-6s %-20s %-14s %s\n", part.name, f.Path, strings.Join(flags, ","), f.ZH)
			}
		}
	}
	return cli.ExitOK
}

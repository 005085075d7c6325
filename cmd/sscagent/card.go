package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/prompt"
)

const cardUsage = "card read --config FILE [--reader NAME] [--timeout D] [--raw [--gbk]] [--no-auth] [--lang zh|en]"

func init() {
	prog.Register("card", "read a social security card: "+cardUsage, cmdCard)
}

// cmdCard is "sscagent card read": wait for a card, read it as iReadCardBas does and
// print masked JSON, or with --raw exactly the national 11-field line, unmasked, as
// business systems expect it. A failure exits 1 and prints the national code and the
// 8.4 prompt on stderr.
func cmdCard(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, cardUsage, errOut, "read"); rc >= 0 {
		return rc
	}
	fs := newFlags("card read", cardUsage, errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	reader := fs.String("reader", "", "read from this holder reader (a name or glob); default: the first card presented")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for a card")
	raw := fs.Bool("raw", false, "print only the 11-field iReadCardBas line, unmasked")
	gbk := fs.Bool("gbk", false, "with --raw: write the name in GBK, like the national DLL")
	noAuth := fs.Bool("no-auth", false, "read without internal authentication (diagnostics, card emulators); the data is NOT authenticated")
	lang := fs.String("lang", "zh", "language of the prompts: zh or en")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	if *timeout <= 0 || (*gbk && !*raw) || (*lang != "zh" && *lang != "en") {
		fmt.Fprintln(errOut, "--timeout must be positive, --gbk needs --raw, --lang is zh or en")
		return cli.ExitUsage
	}
	l := prompt.ZH
	if *lang == "en" {
		l = prompt.EN
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := readOneCard(ctx, cfg, *reader, *timeout, !*noAuth, errOut)
	if err != nil {
		printCardError(errOut, err, l)
		return cli.ExitFail
	}
	if *raw {
		enc := card.UTF8
		if *gbk {
			enc = card.GBK
		}
		line, err := res.IReadCardBas(enc)
		if err != nil {
			printCardError(errOut, card.AsError("format", err), l)
			return cli.ExitFail
		}
		_, _ = out.Write(append(line, '\n'))
		return cli.ExitOK
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		fmt.Fprintf(errOut, "sscagent card read: %v\n", err)
		return cli.ExitFail
	}
	fmt.Fprintf(out, "%s\n", b)
	if !res.Authenticated {
		fmt.Fprintln(errOut, "warning: read without internal authentication (--no-auth): the data is not authenticated")
	}
	return cli.ExitOK
}

// readOneCard waits for a card in the configured holder readers (one already there
// counts) and reads it.
func readOneCard(ctx context.Context, cfg agent.Config, reader string, timeout time.Duration, auth bool, errOut io.Writer) (*card.Result, error) {
	m, done, err := startCards(ctx, cfg, auth, errOut)
	if err != nil {
		return nil, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptService, Op: "start", Err: err}
	}
	defer done()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_ = m.WaitReady(wctx) // the readers and the PSAM as they are now
	f := readers.Filter{IncludePresent: true}
	if reader != "" {
		f.Readers = []string{reader}
	}
	in, err := m.Waiter(f).Next(wctx)
	if err != nil {
		h := m.Health()
		switch {
		case ctx.Err() != nil:
			return nil, &card.Error{Code: card.CodeNoCard, Prompt: card.PromptCanceled, Op: "wait for a card", Err: ctx.Err()}
		case !h.Service:
			return nil, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptService, Op: "wait for a card",
				Err: errors.New(h.LastError)}
		case h.HolderReaders == 0:
			return nil, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "wait for a card",
				Err: errors.New("no holder-card reader attached")}
		}
		return nil, &card.Error{Code: card.CodeNoCard, Prompt: card.PromptTimeout, Op: "wait for a card",
			Err: fmt.Errorf("no card within %s", timeout)}
	}
	return m.Read(ctx, in.Reader, readers.ReadOptions{SkipAuth: !auth})
}

// printCardError writes the national code and the prompt for every audience.
func printCardError(w io.Writer, err error, l prompt.Lang) {
	e := card.AsError("read", err)
	m := e.Message()
	fmt.Fprintf(w, "sscagent card read: %d %s\n", int(e.Code), e.Code.Meaning())
	fmt.Fprintf(w, "  holder:     %s\n", m.Render(prompt.Holder, l))
	fmt.Fprintf(w, "  operator:   %s\n", m.Render(prompt.Operator, l))
	fmt.Fprintf(w, "  maintainer: %s\n", m.Render(prompt.Maintainer, l))
	fmt.Fprintf(w, "  cause:      %v\n", e)
}

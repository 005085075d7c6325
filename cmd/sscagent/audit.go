package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/audit"
	"github.com/sscagent/sscagent/internal/config"
)

const auditUsage = "audit verify [--file F | --state-dir DIR | --config FILE]"

func init() {
	prog.Register("audit", "check the personal-data audit log: "+auditUsage, cmdAudit)
}

// cmdAudit is "sscagent audit verify": it checks the hash chain of the audit log (every
// file, in order, against the head; or one file with --file) and names the first line
// that was altered, removed, moved or cut. Exit 0: intact; 1: broken or unreadable.
func cmdAudit(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, auditUsage, errOut, "verify"); rc >= 0 {
		return rc
	}
	fs := newFlags("audit verify", auditUsage, errOut)
	file := fs.String("file", "", "check this one file (a rotated file's first entry is taken on trust)")
	cfgPath := fs.String("config", defaultConfigPath(), "configuration file (for agent.stateDir)")
	stateDir := fs.String("state-dir", "", "state directory holding the log (default: agent.stateDir)")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	var rep audit.Report
	var err error
	what := *file
	if *file != "" {
		rep, err = audit.VerifyFile(*file)
	} else {
		dir := *stateDir
		if dir == "" {
			cfg, cerr := agent.LoadConfig(*cfgPath)
			if cerr != nil && !errors.Is(cerr, config.ErrNoConfig) {
				printConfigError(errOut, *cfgPath, cerr)
				return cli.ExitFail
			}
			dir = cfg.Agent.StateDir
		}
		what = dir
		rep, err = audit.VerifyDir(dir)
	}
	var p *audit.Problem
	switch {
	case errors.As(err, &p):
		fmt.Fprintf(out, "BROKEN: %s line %d: %s\n", p.File, p.Line, p.Reason)
		fmt.Fprintf(out, "%d entries verified before it (up to entry %d)\n", rep.Entries, rep.Last.Seq)
		return cli.ExitFail
	case err != nil:
		fmt.Fprintln(errOut, "sscagent audit verify:", err)
		return cli.ExitFail
	}
	fmt.Fprintf(out, "OK: %s: %d entries in %d file(s), entries %d-%d, last %s\n", what, rep.Entries, rep.Files,
		rep.First, rep.Last.Seq, rep.Last.Time.Format("2006-01-02 15:04:05Z07:00"))
	return cli.ExitOK
}

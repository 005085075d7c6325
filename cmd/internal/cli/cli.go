// Package cli is the command-line frame shared by the sscagent and sscsim binaries: a
// registry of subcommands that each command's file fills from init, dispatch with the
// usage screen, and flag parsing with one exit-code convention (0 done, 1 the command
// failed, 2 the command line is wrong).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
)

// Exit codes of every command.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and failed (invalid config, card error, ...)
	ExitUsage = 2 // the command line itself is wrong
)

// RunFunc runs one command with the arguments after its name and returns the exit code.
type RunFunc func(args []string, out, errOut io.Writer) int

type command struct {
	summary string
	run     RunFunc
}

// Program is a binary made of subcommands.
type Program struct {
	// Name is the binary's name, used in messages ("sscagent").
	Name string
	// Intro is printed under the usage line of the help screen.
	Intro string

	cmds map[string]command
}

// Register adds a command. A duplicate name panics: it is a programming error.
func (p *Program) Register(name, summary string, run RunFunc) {
	if _, dup := p.cmds[name]; dup {
		panic(p.Name + ": command " + name + " registered twice")
	}
	if p.cmds == nil {
		p.cmds = map[string]command{}
	}
	p.cmds[name] = command{summary, run}
}

// Dispatch runs the command named by args[0]. No arguments prints the help screen and
// is a usage error; "help", "-h" and "--help" print it and succeed.
func (p *Program) Dispatch(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		p.Usage(out)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c, ok := p.cmds[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "%s: unknown command %q\n\n", p.Name, args[0])
		p.Usage(errOut)
		return ExitUsage
	}
	return c.run(args[1:], out, errOut)
}

// Usage prints the help screen: the usage line, the intro and every command with its
// summary, sorted by name.
func (p *Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n", p.Name)
	if p.Intro != "" {
		fmt.Fprintln(w, "\n"+p.Intro)
	}
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(p.cmds))
	for n := range p.cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, p.cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for the flags of a command.\n", p.Name)
}

// NewFlags returns a flag set named name that writes to errOut; its help is header
// followed by the flags and their defaults.
func NewFlags(name, header string, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintln(errOut, header)
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags parses args that take no positional arguments; it returns the exit code
// to use when parsing ended the command, or -1 to go on: ExitOK for -h, ExitUsage for a
// bad flag or stray arguments.
func ParseFlags(fs *flag.FlagSet, args []string) int { return ParseArgs(fs, args, 0, 0) }

// ParseArgs is ParseFlags for commands with positional arguments: at least min and at
// most max of them (max < 0: no limit).
func ParseArgs(fs *flag.FlagSet, args []string, min, max int) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if n := fs.NArg(); n < min || (max >= 0 && n > max) {
		if max == 0 {
			fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		} else {
			fmt.Fprintf(fs.Output(), "wrong number of arguments: %v\n", fs.Args())
		}
		fs.Usage()
		return ExitUsage
	}
	return -1
}

// Subcommand returns args[0] when it is one of names (a command's own subcommands, such
// as "keys gen"). Otherwise it prints "Usage: NAME usage" and returns the exit code:
// ExitOK for -h/--help, ExitUsage for anything else.
func (p *Program) Subcommand(args []string, usage string, errOut io.Writer, names ...string) (string, int) {
	if len(args) > 0 {
		for _, n := range names {
			if args[0] == n {
				return n, -1
			}
		}
	}
	fmt.Fprintf(errOut, "Usage: %s %s\n", p.Name, usage)
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return "", ExitOK
	}
	return "", ExitUsage
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// newFlags returns a flag set for "sscagent NAME" that writes its help to errOut.
func newFlags(name, synopsis string, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sscagent "+name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, "Usage: sscagent %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing ended the
// command (-1 means go on): 0 for -h, 2 for a bad flag or stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return exitUsage
	}
	return -1
}

// subcommand returns args[0] when it is one of names. Otherwise it prints usage and
// returns the exit code: 0 for -h/--help, 2 for anything else.
func subcommand(args []string, usage string, errOut io.Writer, names ...string) (string, int) {
	if len(args) > 0 {
		for _, n := range names {
			if args[0] == n {
				return n, -1
			}
		}
	}
	fmt.Fprintln(errOut, "Usage: sscagent "+usage)
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return "", exitOK
	}
	return "", exitUsage
}

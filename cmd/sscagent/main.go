// Command sscagent is the social security card one-card-pass terminal agent: the daemon
// ("sscagent run") and its operator CLI. main only parses the command line, loads the
// configuration, builds the parts and maps the result to an exit code; the work is done
// in the packages it imports.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed (invalid config, card error, ...)
	exitUsage = 2 // the command line itself is wrong
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	summary string
	run     func(args []string, out, errOut io.Writer) int
}

// registry holds every subcommand. Each command's file registers it from init, so adding
// a command touches only its own file.
var registry = map[string]command{}

// register adds a subcommand; it panics on a duplicate name (a programming error).
func register(name, summary string, run func(args []string, out, errOut io.Writer) int) {
	if _, dup := registry[name]; dup {
		panic("sscagent: command " + name + " registered twice")
	}
	registry[name] = command{summary, run}
}

func commands() map[string]command { return registry }

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(out)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "sscagent: unknown command %q\n\n", args[0])
		usage(errOut)
		return exitUsage
	}
	return c.run(args[1:], out, errOut)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sscagent COMMAND [flags]")
	fmt.Fprintln(w, "\nThe social security card one-card-pass terminal agent (社会保障卡一卡通终端代理).")
	fmt.Fprintln(w, "\nCommands:")
	cs := commands()
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cs[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sscagent COMMAND -h' for the flags of a command.")
}

// defaultConfigPath is used when --config is not given: $SSCAGENT_CONFIG, else the
// packaged location.
func defaultConfigPath() string {
	if p := os.Getenv("SSCAGENT_CONFIG"); p != "" {
		return p
	}
	if os.PathSeparator == '\\' {
		return `C:\ProgramData\sscagent\sscagent.yaml`
	}
	return "/etc/sscagent/sscagent.yaml"
}

// indent prefixes every line of s, for nested error output.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// Command sscsim is the sandbox for sscagent: a one-card-pass platform that speaks the
// same protocol, and the virtual social security card, PSAM and scanner used by the tests
// and the demo. These are test instruments: their keys are test keys, which a production
// terminal refuses.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one instrument. run gets the arguments after the command name.
type command struct {
	summary string
	run     func(args []string, out, errOut io.Writer) int
}

// registry holds every instrument; each command's file registers it from init.
var registry = map[string]command{}

// register adds a command; it panics on a duplicate name (a programming error).
func register(name, summary string, run func(args []string, out, errOut io.Writer) int) {
	if _, dup := registry[name]; dup {
		panic("sscsim: command " + name + " registered twice")
	}
	registry[name] = command{summary, run}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := registry[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "sscsim: unknown command %q\n\n", args[0])
		usage(errOut)
		return 2
	}
	return c.run(args[1:], out, errOut)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sscsim COMMAND [flags]")
	fmt.Fprintln(w, "\nTest instruments for sscagent, never for production: they use published test keys")
	fmt.Fprintln(w, "that a production terminal refuses.")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, registry[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sscsim COMMAND -h' for the flags of a command.")
}

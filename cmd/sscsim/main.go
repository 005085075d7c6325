// Command sscsim is the sandbox for sscagent: a one-card-pass platform that speaks the
// same protocol, and the virtual social security card, PSAM and scanner used by the tests
// and the demo. These are test instruments: their keys are test keys, which a production
// terminal refuses.
package main

import (
	"fmt"
	"io"
	"os"
)

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
	if args[0] == "scanner" {
		return cmdScanner(args[1:], out, errOut)
	}
	fmt.Fprintf(errOut, "sscsim: unknown command %q\n\n", args[0])
	usage(errOut)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: sscsim COMMAND [flags]")
	fmt.Fprintln(w, "\nTest instruments for sscagent (never for production): the sandbox platform,")
	fmt.Fprintln(w, "a virtual social security card and PSAM over vpcd, and a virtual scanner.")
	fmt.Fprintln(w, "\nNo commands are built into this version yet.")
}

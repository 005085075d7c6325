// Command sscsim is the sandbox for sscagent: a one-card-pass platform that speaks the
// same protocol, and the virtual social security card, PSAM and scanner used by the tests
// and the demo. These are test instruments: their keys are test keys, which a production
// terminal refuses.
package main

import (
	"os"

	"github.com/sscagent/sscagent/cmd/internal/cli"
)

var prog = cli.Program{
	Name: "sscsim",
	Intro: "Test instruments for sscagent, never for production: they use published test keys\n" +
		"that a production terminal refuses.",
}

func main() {
	os.Exit(prog.Dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

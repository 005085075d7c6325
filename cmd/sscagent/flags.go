package main

import (
	"flag"
	"io"

	"github.com/sscagent/sscagent/cmd/internal/cli"
)

// newFlags returns a flag set for "sscagent NAME" whose help starts with the synopsis.
func newFlags(name, synopsis string, errOut io.Writer) *flag.FlagSet {
	return cli.NewFlags("sscagent "+name, "Usage: sscagent "+synopsis+"\n\nFlags:", errOut)
}

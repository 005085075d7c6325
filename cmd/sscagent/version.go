package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/version"
)

func init() {
	prog.Register("version", "print version, commit and Go version", cmdVersion)
}

func cmdVersion(args []string, out, errOut io.Writer) int {
	fs := newFlags("version", "version [--json]", errOut)
	asJSON := fs.Bool("json", false, "print as JSON")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	v := version.Get()
	if *asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(out, string(b))
		return cli.ExitOK
	}
	fmt.Fprintln(out, v.String())
	return cli.ExitOK
}

// Command sscagent is the social security card one-card-pass terminal agent: the daemon
// ("sscagent run") and its operator CLI. main only parses the command line, loads the
// configuration, builds the parts and maps the result to an exit code; the work is done
// in the packages it imports.
package main

import (
	"os"
	"strings"

	"github.com/sscagent/sscagent/cmd/internal/cli"
)

var prog = cli.Program{
	Name:  "sscagent",
	Intro: "The social security card one-card-pass terminal agent (社会保障卡一卡通终端代理).",
}

func main() {
	os.Exit(prog.Dispatch(os.Args[1:], os.Stdout, os.Stderr))
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

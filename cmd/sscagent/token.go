package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/sscagent/sscagent/agent/localapi"
	"github.com/sscagent/sscagent/cmd/internal/cli"
)

const tokenUsage = "token new --name NAME --scopes gate|kiosk|operator[,...]"

func init() {
	prog.Register("token", "local API tokens: "+tokenUsage+" (prints the token once and its localapi.tokens entry)", cmdToken)
}

var reTokenName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// cmdToken is "sscagent token new": a new random token for one application. The token
// is printed once, for the application; the configuration keeps only its SHA-256.
func cmdToken(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, tokenUsage, errOut, "new"); rc >= 0 {
		return rc
	}
	fs := newFlags("token new", tokenUsage, errOut)
	name := fs.String("name", "", "the application's name, in the audit log: 1-32 letters, digits, '-' or '_'")
	scopes := fs.String("scopes", "", "comma-separated scopes: gate (outcomes only), kiosk (holder data, payments), operator (settle, refund)")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	if !reTokenName.MatchString(*name) || *name == localapi.LegacyTokenName {
		fmt.Fprintf(errOut, "sscagent token new: --name must be 1-32 letters, digits, '-' or '_' (not %q)\n", localapi.LegacyTokenName)
		return cli.ExitUsage
	}
	var list []string
	for _, s := range strings.Split(*scopes, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !localapi.Scope(s).Valid() {
			fmt.Fprintf(errOut, "sscagent token new: unknown scope %q: gate, kiosk or operator\n", s)
			return cli.ExitUsage
		}
		list = append(list, s)
	}
	if len(list) == 0 {
		fmt.Fprintln(errOut, "sscagent token new: --scopes is required: gate, kiosk and/or operator")
		return cli.ExitUsage
	}
	secret, err := localapi.NewSecret()
	if err != nil {
		fmt.Fprintln(errOut, "sscagent token new:", err)
		return cli.ExitFail
	}
	h := localapi.HashToken(secret)
	fmt.Fprintf(out, `Token for %s (shown once; give it to the application, e.g. in a file of mode 0600):

  %s

Add this entry under localapi.tokens in the configuration, then restart or push it:

    - name: %s
      scopes: [%s]
      sha256: %s
`, *name, secret, *name, strings.Join(list, ", "), hex.EncodeToString(h[:]))
	return cli.ExitOK
}

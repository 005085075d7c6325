package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/cmd/internal/cli"
)

const psamUsage = `Usage: sscsim psam --vpcd HOST:PORT [flags]

A virtual social security PSAM in a vpcd virtual reader of pcscd: environments sx1
(DES) and sx3 (SM4) with DF01, files 0015 (PSAM serial) and 0016 (终端机编号),
DELIVERY SESSION KEY (BF DE), CIPHER DATA (80 FA) and INITIALIZE ENVIRONMENT (BF EC),
with the IRK and RKSSSE roots derived from the published test root keys (docs/card.md).
A TEST INSTRUMENT: its ATR carries the test marker, so only a terminal configured as a
test terminal (terminal.test: true) uses it. Point the terminal's cards.readers.psam
pattern at the reader of this slot.

Control while running, on standard input or by signal: remove (SIGUSR1), insert
(SIGUSR2), quit (SIGINT).

Flags:`

func init() {
	prog.Register("psam", "virtual PSAM in a vpcd reader (test instrument)", cmdPSAM)
}

func cmdPSAM(args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim psam", psamUsage, errOut)
	addr := fs.String("vpcd", "", "vpcd address of the PSAM slot, HOST:PORT")
	term := fs.String("terminal-no", "350100000001", "终端机编号 in file 0016 (12 digits)")
	serial := fs.String("serial", "35010000000000000001", "PSAM序列号 in file 0015 (20 digits)")
	levels := fs.Int("levels", 3, "level of the roots it holds: 3 national, 2 provincial, 1 city")
	region := fs.String("region", "", "its region for levels 1 and 2 (default: the first 6 digits of --terminal-no)")
	algs := fs.String("algorithms", "des,sm4", "environments: des (sx1) and/or sm4 (sx3)")
	noRK := fs.Bool("no-rk", false, "leave out RKSSSE: gen-3 cards then need the HSM (-2203)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	o := cardsim.PSAMOptions{TerminalNo: *term, Serial: *serial, Levels: *levels, Region: *region, NoRK: *noRK}
	for _, a := range strings.Split(*algs, ",") {
		switch strings.ToLower(strings.TrimSpace(a)) {
		case "des":
			o.Algorithms = append(o.Algorithms, card.AlgDES)
		case "sm4":
			o.Algorithms = append(o.Algorithms, card.AlgSM4)
		default:
			fmt.Fprintf(errOut, "--algorithms: %q is not des or sm4\n", a)
			fs.Usage()
			return 2
		}
	}
	if *addr == "" {
		fmt.Fprintln(errOut, "--vpcd is required")
		fs.Usage()
		return 2
	}
	p, err := cardsim.NewPSAM(o)
	if err != nil {
		fmt.Fprintf(errOut, "sscsim psam: %v\n", err)
		return 1
	}
	fmt.Fprintf(errOut, "TEST INSTRUMENT: virtual PSAM, 终端机编号 %s, levels %d, for vpcd %s\n", *term, *levels, *addr)
	return runICC(*addr, p, out, errOut)
}

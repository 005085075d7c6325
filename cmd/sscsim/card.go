package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/drivers/apdu"
)

const cardUsage = `Usage: sscsim card --vpcd HOST:PORT --profile NAME|FILE [flags]

A virtual social security card (社会保障卡) in a vpcd virtual reader of pcscd
(Debian vsmartcard-vpcd). A TEST INSTRUMENT: its keys are derived from the published
test root keys (docs/card.md) and its ATR carries the test marker, so only a terminal
configured as a test terminal (terminal.test: true) accepts it.

The card is inserted by connecting to vpcd's port for a reader slot (35963 for the first
slot of the stock /etc/reader.conf.d/vpcd) and stays in the reader across pcscd restarts.
Shipped profiles: zhangsan (gen 3, SM4), lisi (gen 2, 3DES), zhaoliu (gen 3, a card
reported lost), bankcard (no social security application); or a profile file (see
card/cardsim/testdata).

Control while running, on standard input or by signal:
  remove   (SIGUSR1)   take the card out of the reader
  insert   (SIGUSR2)   put it back
  quit     (SIGINT)    take it out and exit

Flags:`

// stdin is where the instruments read their control commands (tests replace it).
var stdin io.Reader = os.Stdin

func init() {
	prog.Register("card", "virtual social security card in a vpcd reader (test instrument)", cmdCard)
}

func cmdCard(args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim card", cardUsage, errOut)
	addr := fs.String("vpcd", "", "vpcd address of the reader slot, HOST:PORT")
	profile := fs.String("profile", "", "shipped profile name or profile file")
	pullAfter := fs.Int("pull-after", 0, "pull the card out during its Nth command (a card pulled mid-read); 0: never")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *addr == "" || *profile == "" || *pullAfter < 0 {
		fmt.Fprintln(errOut, "--vpcd and --profile are required")
		fs.Usage()
		return 2
	}
	c, err := cardsim.LoadCard(*profile)
	if err != nil {
		fmt.Fprintf(errOut, "sscsim card: %v\n", err)
		return 1
	}
	p := c.Profile()
	if *pullAfter > 0 {
		var n atomic.Int64
		c.PullWhen(func(apdu.Command) bool { return n.Add(1) == int64(*pullAfter) })
	}
	fmt.Fprintf(errOut, "TEST INSTRUMENT: virtual card %q (%s) for vpcd %s\n", p.Label, p.EF05.CardID, *addr)
	return runICC(*addr, c, out, errOut)
}

// gone is the channel closed when the card leaves by itself; nil (never) when it is out.
func gone(in *cardsim.Inserted) <-chan struct{} {
	if in == nil {
		return nil
	}
	return in.Done()
}

// runICC keeps icc in the vpcd slot at addr, taking it out and putting it back on
// request, until quit, end of input on a terminal, or a signal.
func runICC(addr string, icc cardsim.ICC, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sigs := make(chan os.Signal, 2)
	if removeSignal != nil {
		signal.Notify(sigs, removeSignal, insertSignal)
		defer signal.Stop(sigs)
	}
	var mu sync.Mutex // guards out: the card's goroutine reports insertions too
	say := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, s)
	}
	cmds, exit := make(chan string), make(chan struct{})
	defer close(exit)
	input := stdin
	go func() { // ends with the input, or (blocked in Scan) with the process
		sc := bufio.NewScanner(input)
		for sc.Scan() {
			select {
			case cmds <- strings.TrimSpace(sc.Text()):
			case <-exit:
				return
			}
		}
	}()

	var in *cardsim.Inserted // the card in the reader, nil when out
	insert := func() {
		if in == nil {
			in = cardsim.Insert(addr, icc, cardsim.ServeOptions{OnConnect: func() { say("inserted") }})
		}
	}
	remove := func() {
		if in != nil {
			_ = in.Remove()
			in = nil
			say("removed")
		}
	}
	insert()
	for {
		select {
		case <-ctx.Done():
			remove()
			return 0
		case <-gone(in): // the card pulled itself out (--pull-after)
			err := in.Remove()
			in = nil
			say(fmt.Sprintf("removed (%v)", err))
		case s := <-sigs:
			if s == removeSignal {
				remove()
			} else {
				insert()
			}
		case c := <-cmds:
			switch c {
			case "remove":
				remove()
			case "insert":
				insert()
			case "quit":
				remove()
				return 0
			case "":
			default:
				fmt.Fprintf(errOut, "unknown command %q (remove, insert, quit)\n", c)
			}
		}
	}
}

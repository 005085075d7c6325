package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/backoff"
)

const scannerUsage = `Usage: sscsim scanner (--port PATH | --pty LINK) [flags] [CODE...]

A virtual serial QR scanner. It writes each CODE (or, without codes, each line typed on
standard input) followed by the terminator, as a scanner in serial/CDC mode does.

  --port PATH   write to an existing port: a socat pty end, or a real serial port
                wired to the agent's port through a null-modem cable
  --pty LINK    create a pseudo-terminal and link LINK to it; point the agent's scanner
                at LINK (kind serial, port LINK). Sending starts once the agent opens it.

Flags:`

func init() {
	prog.Register("scanner", "virtual serial QR scanner on a port or a new pty", cmdScanner)
}

// cmdScanner is "sscsim scanner": a virtual scanner for the demo and for manual tests of
// framing, de-duplication and hostile input.
func cmdScanner(args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim scanner", scannerUsage, errOut)
	port := fs.String("port", "", "existing port to write to")
	link := fs.String("pty", "", "create a pty and link this path to it")
	baud := fs.Int("baud", 9600, "bit rate with --port")
	term := fs.String("terminator", "crlf", "crlf | cr | lf | none | a hex byte such as 03")
	prefix := fs.String("prefix", "", "sent before each code (e.g. \"]Q1\")")
	interval := fs.Duration("interval", 200*time.Millisecond, "pause between codes")
	repeat := fs.Int("repeat", 1, "send each code this many times (a scanner in continuous mode)")
	flood := fs.Int("flood", 0, "then send this many distinct random codes as fast as possible")
	noise := fs.Int("noise", 0, "then send this many bytes of random binary noise")
	hold := fs.Duration("hold", time.Second, "keep the port open this long after the last byte (closing it is an unplug)")
	if rc := cli.ParseArgs(fs, args, 0, -1); rc >= 0 { // the codes to send
		return rc
	}
	suffix, err := terminatorBytes(*term)
	if (*port == "") == (*link == "") || err != nil || *repeat < 1 || *flood < 0 || *noise < 0 {
		fmt.Fprintln(errOut, "give exactly one of --port and --pty, a valid --terminator, --repeat >= 1")
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var w io.WriteCloser
	if *link != "" {
		p, err := newPty(*link)
		if err != nil {
			fmt.Fprintf(errOut, "sscsim scanner: %v\n", err)
			return 1
		}
		defer p.Close()
		fmt.Fprintf(errOut, "virtual scanner on %s; waiting for the agent to open it\n", *link)
		if err := p.WaitOpened(ctx); err != nil {
			fmt.Fprintf(errOut, "sscsim scanner: %v\n", err)
			return 1
		}
		w = p
	} else {
		sp, err := serial.Open(*port, &serial.Mode{BaudRate: *baud})
		if err != nil {
			fmt.Fprintf(errOut, "sscsim scanner: open %s: %v\n", *port, err)
			return 1
		}
		defer sp.Close()
		w = sp
	}
	send := func(code string) error {
		for i := range *repeat {
			if i > 0 && !backoff.Sleep(ctx, *interval) {
				return ctx.Err()
			}
			if _, err := io.WriteString(w, *prefix+code+string(suffix)); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "sent %d bytes x%d\n", len(code), *repeat)
		return nil
	}
	err = sendCodes(ctx, fs.Args(), os.Stdin, *interval, send)
	if err == nil && *flood > 0 {
		err = sendFlood(w, *flood, *prefix, suffix)
	}
	if err == nil && *noise > 0 {
		b := make([]byte, *noise)
		_, _ = rand.Read(b)
		_, err = w.Write(b)
	}
	if err == nil {
		backoff.Sleep(ctx, *hold)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(errOut, "sscsim scanner: %v\n", err)
		return 1
	}
	return 0
}

// sendCodes sends the given codes, or every non-empty line of in when there are none.
func sendCodes(ctx context.Context, codes []string, in io.Reader, interval time.Duration, send func(string) error) error {
	if len(codes) == 0 {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				if err := send(line); err != nil {
					return err
				}
			}
		}
		return sc.Err()
	}
	for i, c := range codes {
		if i > 0 && !backoff.Sleep(ctx, interval) {
			return ctx.Err()
		}
		if err := send(c); err != nil {
			return err
		}
	}
	return nil
}

// sendFlood writes n distinct codes in one burst.
func sendFlood(w io.Writer, n int, prefix string, suffix []byte) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range n {
		fmt.Fprintf(bw, "%sFLOOD-%010d%s", prefix, i, suffix)
	}
	return bw.Flush()
}

func terminatorBytes(t string) ([]byte, error) {
	switch t {
	case "crlf":
		return []byte("\r\n"), nil
	case "cr":
		return []byte("\r"), nil
	case "lf":
		return []byte("\n"), nil
	case "none":
		return nil, nil
	}
	var b byte
	if _, err := fmt.Sscanf(t, "%02x", &b); err != nil || len(t) != 2 {
		return nil, fmt.Errorf("bad terminator %q", t)
	}
	return []byte{b}, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/qrscan"
)

const qrUsage = "qr listen --config FILE [--serial PATH | --stdin] [--scanner NAME] [--count N] [--json]"

func init() {
	prog.Register("qr", "check a QR scanner: qr listen --config FILE [--serial PATH] [--count N] [--json]", cmdQR)
}

// cmdQR is "sscagent qr listen": installers check a scanner by scanning a few codes. Each
// scan is printed with its source and class; the code itself only as length and
// fingerprint (it is a secret).
func cmdQR(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, qrUsage, errOut, "listen"); rc >= 0 {
		return rc
	}
	fs := newFlags("qr listen", qrUsage, errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file (optional with --serial or --stdin)")
	port := fs.String("serial", "", "listen on this serial port or pty instead of the configured scanners")
	stdin := fs.Bool("stdin", false, "read codes from standard input instead of the configured scanners")
	only := fs.String("scanner", "", "listen on this configured scanner only")
	count := fs.Int("count", 0, "exit after this many scans (0: until interrupted)")
	asJSON := fs.Bool("json", false, "print one JSON object per scan")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	if *count < 0 || (*port != "" && *stdin) {
		fmt.Fprintln(errOut, "--count must be >= 0, and --serial and --stdin exclude each other")
		return cli.ExitUsage
	}
	cfgs, err := qrScanners(*path, *port, *stdin, *only)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return qrListen(ctx, cfgs, *count, *asJSON, out, errOut)
}

// qrScanners picks the scanners to listen on: the configured ones (or the one named),
// or a single ad-hoc serial or stdin scanner that borrows the first configured scanner's
// framing, limits and classification.
func qrScanners(path, port string, stdin bool, only string) (qrscan.Configs, error) {
	adhoc := port != "" || stdin
	cfg, err := agent.LoadConfig(path)
	if err != nil && !(adhoc && errors.Is(err, config.ErrNoConfig)) {
		return nil, err
	}
	if adhoc {
		c := qrscan.Config{Name: "cli"}
		if len(cfg.Scanners) > 0 {
			c = cfg.Scanners[0]
		}
		c.Kind = qrscan.KindStdin
		if port != "" {
			c.Kind = qrscan.KindSerial
			c.Serial.Port = port
		}
		return qrscan.Configs{c}, nil
	}
	var cs qrscan.Configs
	for _, c := range cfg.Scanners {
		if only == "" || c.Name == only {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		if only != "" {
			return nil, fmt.Errorf("no scanner named %q in the configuration", only)
		}
		return nil, errors.New("no scanners configured (give --serial PATH or --stdin)")
	}
	return cs, nil
}

// qrLine is one scan as printed with --json.
type qrLine struct {
	Time   time.Time    `json:"time"`
	Source string       `json:"source"`
	Class  qrscan.Class `json:"class"`
	Code   string       `json:"code"` // masked: "<secret len=N id=...>"
	Length int          `json:"length"`
}

// qrListen runs the scanners until count scans were printed, ctx ends or every scanner's
// input ended, then prints each scanner's counters to errOut.
func qrListen(ctx context.Context, cfgs qrscan.Configs, count int, asJSON bool, out, errOut io.Writer) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scans := make(chan qrscan.Scan, 16)
	var (
		mu sync.Mutex // guards errOut between scanner goroutines
		wg sync.WaitGroup
	)
	note := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(errOut, format+"\n", a...)
		mu.Unlock()
	}
	var scanners []*qrscan.Scanner
	for _, c := range cfgs {
		s, err := qrscan.New(c, qrscan.Options{Out: scans, OnStatus: func(st qrscan.Status) {
			switch {
			case st.Connected:
				note("%s: connected", st.Scanner)
			case errors.Is(st.Err, qrscan.ErrEnded):
				note("%s: end of input", st.Scanner)
			case st.Err != nil:
				note("%s: not connected: %v", st.Scanner, st.Err)
			}
		}})
		if err != nil {
			fmt.Fprintf(errOut, "scanner %s: %v\n", c.Name, err)
			return cli.ExitFail
		}
		scanners = append(scanners, s)
	}
	ended := make(chan struct{})
	for _, s := range scanners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx) // nil on cancel, ErrEnded at the end of standard input
		}()
	}
	go func() { wg.Wait(); close(ended) }()

	printed, rc := 0, cli.ExitOK
	enc := json.NewEncoder(out)
loop:
	for count == 0 || printed < count {
		select {
		case s := <-scans:
			printed++
			line := qrLine{Time: s.Time, Source: s.Source, Class: s.Class, Code: s.Code.String(), Length: len(s.Code.Clear())}
			if asJSON {
				_ = enc.Encode(line)
			} else {
				fmt.Fprintf(out, "%s  %-12s %-8s %s\n", line.Time.Format("15:04:05.000"), line.Source, line.Class, line.Code)
			}
		case <-ended:
			if count > 0 {
				note("input ended after %d of %d scans", printed, count)
				rc = cli.ExitFail
			}
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	cancel()
	<-ended
	for _, s := range scanners {
		st := s.Stats()
		note("%s: %d scans, %d bad input (overlong %d, too long %d, binary %d, invalid UTF-8 %d, stale %d), %d duplicates, %d rate limited, %d busy",
			s.Config().Name, st.Scans, st.BadInput(), st.Overlong, st.TooLong, st.Binary, st.InvalidUTF8, st.Stale,
			st.Duplicates, st.RateLimited, st.Busy)
	}
	return rc
}

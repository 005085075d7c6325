package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
)

const readersUsage = "readers --config FILE [--json]"

func init() {
	prog.Register("readers", "list the card readers: role, card present, ATR, PSAM: "+readersUsage, cmdReaders)
}

// cmdReaders is "sscagent readers": installers check that every reader is seen, has
// the right role and that the PSAM opens.
func cmdReaders(args []string, out, errOut io.Writer) int {
	fs := newFlags("readers", readersUsage, errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	asJSON := fs.Bool("json", false, "print the readers' health as JSON")
	wait := fs.Duration("wait", 3*time.Second, "how long to wait for the reader service")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, done, err := startCards(ctx, cfg, false, errOut)
	if err != nil {
		fmt.Fprintf(errOut, "sscagent readers: %v\n", err)
		return cli.ExitFail
	}
	defer done()
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	_ = m.WaitReady(wctx)
	h := m.Health()
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h)
	} else {
		printReaders(out, h)
	}
	if !h.Service {
		fmt.Fprintf(errOut, "sscagent readers: reader service not available: %s\n", h.LastError)
		return cli.ExitFail
	}
	return cli.ExitOK
}

func printReaders(w io.Writer, h readers.Health) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "READER\tROLE\tINTERFACE\tCARD\tATR")
	for _, r := range h.Readers {
		role, iface, present := string(r.Role), "contact", "no"
		if role == "" {
			role = "-"
		}
		if r.Contactless {
			iface = "contactless"
		}
		if r.Role == readers.RolePSAM {
			iface = "-"
		}
		switch {
		case r.Mute:
			present = "mute"
		case r.Present:
			present = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, role, iface, present, r.ATR)
	}
	_ = tw.Flush()
	switch p := h.PSAM; {
	case p.Usable:
		test := ""
		if p.Test {
			test = " (TEST PSAM)"
		}
		fmt.Fprintf(w, "\nPSAM: %s, 终端机编号 %s, serial %s%s\n", p.Reader, p.TerminalNo, p.Serial, test)
	case p.Present:
		fmt.Fprintf(w, "\nPSAM: %s present but not usable: %s\n", p.Reader, p.Error)
	default:
		fmt.Fprintln(w, "\nPSAM: none")
	}
	if h.HSM {
		fmt.Fprintln(w, "HSM two-step: through the platform")
	} else {
		fmt.Fprintln(w, "HSM two-step: not available")
	}
	if len(h.Readers) == 0 {
		fmt.Fprintln(w, "no readers attached")
	}
}

// startCards runs the card reader manager of cfg in the background; done stops it. With
// hsm, the platform client is built for the HSM two-step (a platform section that
// cannot be used leaves the two-step out, with a warning).
func startCards(ctx context.Context, cfg agent.Config, hsm bool, errOut io.Writer) (*readers.Manager, func(), error) {
	log := slog.New(logging.Masking(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelError})))
	o := readers.Options{Config: cfg.Cards, TestTerminal: cfg.Terminal.Test, Logger: log}
	var client *platform.Client
	if hsm && cfg.Cards.HSM.Enabled {
		c, err := platform.New(cfg.Platform, platform.Options{TerminalID: cfg.Terminal.ID, AllowTestKeys: cfg.Terminal.Test})
		if err != nil {
			fmt.Fprintf(errOut, "warning: HSM two-step not available (platform: %v)\n", err)
		} else {
			client = c
			o.HSM = psam.PlatformHSM{Client: c, DeviceNo: cfg.Cards.DeviceNo}
		}
	}
	m, err := readers.New(o)
	if err != nil {
		if client != nil {
			client.Close()
		}
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = m.Run(ctx)
	}()
	return m, func() {
		cancel()
		<-ran
		if client != nil {
			client.Close()
		}
	}, nil
}

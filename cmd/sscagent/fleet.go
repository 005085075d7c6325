package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

const fleetUsage = `fleet list|show|push-config|cmd|upgrade|serve|keys [flags] ...

  fleet list        [--match GLOB]                              terminals, presence and health
  fleet show        ID                                          one terminal in full
  fleet push-config --file FILE [--version N] [--timeout D] TARGET...
                                                                push a configuration overlay, wait for each outcome
  fleet cmd         [--args JSON] [--timeout D] NAME TARGET...  run a command (ping, log.level, diagnostics, ...)
  fleet upgrade     --version V --artifact FILE --terminals SELECTOR [--percent N | --list IDS...]
                    (--serve ADDR --cert FILE --key FILE | --base-url URL)
                                                                roll a signed build out in stages (docs/deploy.md)
  fleet serve       [--config FILE] [--listen ADDR] [--cert FILE --key FILE] --token-file FILE --audit FILE
                                                                the web console (docs/fleet-console.md)
  fleet keys gen    --out DIR [--alg sm2|ed25519] [--name NAME] a manager signing key pair (pin the .pub.pem
                                                                on terminals in mgmt.managerKeys)

TARGET is a terminal id or a glob ("KIOSK-35*"). Flags go before the arguments.
Every subcommand but keys takes the connection flags (--broker, --username,
--password-file, --ca-file, --cert-file, --key-file, --server-name, --prefix,
--connect-timeout), --signing-key (the manager key that signs what push-config, cmd
and serve publish; docs/mgmt-protocol.md §10.1) and --json.`

func init() {
	prog.Register("fleet", "terminal managers: fleet list|show|push-config|cmd|upgrade|serve|keys against the MQTT broker", cmdFleet)
}

// fleetFlags are the flags every fleet subcommand takes.
type fleetFlags struct {
	o       fleet.Options
	json    bool
	broker  *string
	pwFile  *string
	key     *string
	signKey *string
	// publishes: the subcommand publishes configuration or commands, which go unsigned
	// (with a warning) without --signing-key.
	publishes bool
}

func newFleetFlags(fs *flag.FlagSet) *fleetFlags {
	f := &fleetFlags{}
	def := os.Getenv("SSCAGENT_FLEET_BROKER")
	if def == "" {
		def = "tcp://127.0.0.1:1883"
	}
	f.broker = fs.String("broker", def, "broker URL, tcp://host:1883 or tls://host:8883 ($SSCAGENT_FLEET_BROKER)")
	fs.StringVar(&f.o.Username, "username", os.Getenv("SSCAGENT_FLEET_USERNAME"), "broker user name ($SSCAGENT_FLEET_USERNAME)")
	f.pwFile = fs.String("password-file", os.Getenv("SSCAGENT_FLEET_PASSWORD_FILE"), "file holding the broker password, mode 0600 ($SSCAGENT_FLEET_PASSWORD_FILE)")
	fs.StringVar(&f.o.CAFile, "ca-file", "", "PEM CA bundle for a tls:// broker (default: system roots)")
	fs.StringVar(&f.o.CertFile, "cert-file", "", "client certificate (PEM) for brokers that authenticate by certificate")
	f.key = fs.String("key-file", "", "client certificate key (PEM, mode 0600)")
	fs.StringVar(&f.o.ServerName, "server-name", "", "name checked in the broker's certificate (default: the URL's host)")
	fs.StringVar(&f.o.Prefix, "prefix", mgmt.DefaultPrefix, "topic prefix")
	fs.DurationVar(&f.o.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on connecting to the broker")
	f.signKey = fs.String("signing-key", os.Getenv("SSCAGENT_FLEET_SIGNING_KEY"), "manager signing key (PEM, mode 0600, from fleet keys gen) for configuration and commands ($SSCAGENT_FLEET_SIGNING_KEY)")
	fs.BoolVar(&f.json, "json", false, "print JSON")
	return f
}

// signer reads the --signing-key; none is a warning for a subcommand that publishes.
func (f *fleetFlags) signer(errOut io.Writer) error {
	if *f.signKey == "" {
		if f.publishes {
			fmt.Fprintln(errOut, "warning: no --signing-key: configuration and commands go unsigned; only test terminals without pinned manager keys take them")
		}
		return nil
	}
	b, err := config.SecretFile(*f.signKey).Read()
	if err != nil {
		return fmt.Errorf("--signing-key: %w", err)
	}
	if f.o.Signer, err = signing.ParsePrivateKey(b); err != nil {
		return fmt.Errorf("--signing-key %s: %w", *f.signKey, err)
	}
	return nil
}

// open connects to the broker under a context that ends at SIGINT or SIGTERM; done
// disconnects and releases the signals.
func (f *fleetFlags) open(errOut io.Writer) (ctx context.Context, c *fleet.Client, done func(), err error) {
	if err := f.signer(errOut); err != nil {
		return nil, nil, nil, err
	}
	f.o.Broker = *f.broker
	f.o.PasswordFile = config.SecretFile(*f.pwFile)
	f.o.KeyFile = config.SecretFile(*f.key)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c, err = fleet.Dial(ctx, f.o)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return ctx, c, func() { c.Close(); stop() }, nil
}

func cmdFleet(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(errOut, "Usage: sscagent "+fleetUsage)
		if len(args) > 0 {
			return cli.ExitOK
		}
		return cli.ExitUsage
	}
	sub, rest := args[0], args[1:]
	run := map[string]func([]string, io.Writer, io.Writer) int{
		"list": fleetList, "show": fleetShow, "push-config": fleetPush, "cmd": fleetCmd, "upgrade": fleetUpgrade, "serve": fleetServe,
		"keys": fleetKeys,
	}[sub]
	if run == nil {
		fmt.Fprintf(errOut, "sscagent fleet: unknown subcommand %q\n\nUsage: sscagent %s\n", sub, fleetUsage)
		return cli.ExitUsage
	}
	return run(rest, out, errOut)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func fleetList(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet list", "fleet list [--match GLOB] [--stale-after D] [connection flags] [--json]", errOut)
	ff := newFleetFlags(fs)
	match := fs.String("match", "", "only terminals whose id matches this glob")
	fs.DurationVar(&ff.o.StaleAfter, "stale-after", 3*time.Minute, "telemetry older than this marks a terminal stale")
	if rc := cli.ParseArgs(fs, args, 0, 0); rc >= 0 {
		return rc
	}
	if _, err := path.Match(*match, ""); err != nil {
		fmt.Fprintf(errOut, "--match: bad pattern %q\n", *match)
		return cli.ExitUsage
	}
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	var sel func(string) bool
	if *match != "" {
		sel = func(id string) bool { ok, _ := path.Match(*match, id); return ok }
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ts, err := c.List(lctx, sel)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	if ff.json {
		writeJSON(out, ts)
		return cli.ExitOK
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TERMINAL\tPRESENCE\tEPOCH\tHEALTH\tTELEMETRY\tCONFIG\tSITE\tPROBLEMS")
	online := 0
	for _, t := range ts {
		if t.Presence == fleet.Online {
			online++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, presence(t), t.Epoch, t.Health, telemetryAge(t),
			configCell(t), site(t), strings.Join(t.Problems, "; "))
	}
	tw.Flush()
	fmt.Fprintf(out, "%d terminals, %d online\n", len(ts), online)
	return cli.ExitOK
}

func presence(t fleet.Terminal) string {
	p := t.Presence
	if t.State != nil && t.State.Reason != "" && p == fleet.Offline {
		p += " (" + t.State.Reason + ")"
	}
	if t.StaleDeath {
		p += " (stale will ignored)"
	}
	return p
}

func telemetryAge(t fleet.Terminal) string {
	if t.Telemetry == nil {
		return "-"
	}
	s := (time.Duration(t.TelemetryAge) * time.Second).String() + " ago"
	if t.Stale {
		s += " (stale)"
	}
	return s
}

func configCell(t fleet.Terminal) string {
	r := t.Reported
	if r == nil {
		if t.State != nil && t.State.Config != nil {
			return fmt.Sprintf("v%d", t.State.Config.Version)
		}
		return "-"
	}
	s := fmt.Sprintf("v%d", r.Committed.Version)
	if r.Version != r.Committed.Version {
		s += fmt.Sprintf(" (v%d %s)", r.Version, r.Status)
	}
	return s
}

func site(t fleet.Terminal) string {
	if t.State != nil && t.State.Terminal != nil {
		return t.State.Terminal.Site
	}
	return ""
}

func fleetShow(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet show", "fleet show [connection flags] [--json] ID", errOut)
	ff := newFleetFlags(fs)
	if rc := cli.ParseArgs(fs, args, 1, 1); rc >= 0 {
		return rc
	}
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	t, desired, err := c.Show(sctx, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	if ff.json {
		writeJSON(out, struct {
			*fleet.Terminal
			Desired *mgmt.Desired `json:"desired,omitempty"`
		}{t, desired})
		return cli.ExitOK
	}
	fmt.Fprintf(out, "terminal  %s\npresence  %s (epoch %d)\nhealth    %s", t.ID, presence(*t), t.Epoch, t.Health)
	if len(t.Problems) > 0 {
		fmt.Fprintf(out, ": %s", strings.Join(t.Problems, "; "))
	}
	fmt.Fprintln(out)
	if s := t.State; s != nil && s.Terminal != nil {
		r := s.Terminal
		fmt.Fprintf(out, "identity  %s %s, %s (%s), region %s, site %s, %s, modes %v\n",
			r.Manufacturer, r.Model, r.Institution, r.CreditCode, r.Region, r.Site, r.DeviceType, r.CardModes)
		if s.Software != nil {
			fmt.Fprintf(out, "software  %s (%s, %s)\n", s.Software.Version, s.Software.Commit, s.Software.Go)
		}
	}
	if tm := t.Telemetry; tm != nil {
		d := tm.Link.Dropped
		fmt.Fprintf(out, "telemetry %s, uptime %s, cpu %.1f%%, rss %d KiB\nlink      %d connects, %d failures, %d sessions lost, %d buffered; dropped: %d events, %d telemetry, %d results, %d commands\n",
			telemetryAge(*t), time.Duration(tm.UptimeSeconds)*time.Second, tm.Process.CPUPercent, tm.Process.RSSBytes>>10,
			tm.Link.Connects, tm.Link.Failures, tm.Link.SessionsLost, tm.Link.Buffered, d.Events, d.Telemetry, d.Results, d.Commands)
		for _, r := range tm.Readers {
			fmt.Fprintf(out, "reader    %s (%s) present=%v card=%v %s\n", r.Name, r.Role, r.Present, r.Card, r.LastError)
		}
		for _, p := range tm.PSAMs {
			fmt.Fprintf(out, "psam      %s %s %s\n", p.Reader, p.Status, p.LastError)
		}
		for _, s := range tm.Scanners {
			fmt.Fprintf(out, "scanner   %s connected=%v scans=%d bad=%d %s\n", s.Name, s.Connected, s.Scans, s.BadInput, s.LastError)
		}
		if q := tm.Queue; q != nil {
			fmt.Fprintf(out, "queue     depth %d, oldest %.0fs, quarantined %d\n", q.Depth, q.OldestAgeSeconds, q.Quarantined)
		}
		if p := tm.Platform; p != nil {
			state := "down"
			switch {
			case p.Up:
				state = "up"
			case p.Unknown:
				state = "not called yet"
			}
			fmt.Fprintf(out, "platform  %s, skew %.1fs %s\n", state, p.ClockSkewSeconds, p.LastError)
		}
	}
	if r := t.Reported; r != nil {
		fmt.Fprintf(out, "config    committed v%d; last v%d %s", r.Committed.Version, r.Version, r.Status)
		if r.Reason != "" {
			fmt.Fprintf(out, ": %s", r.Reason)
		}
		fmt.Fprintln(out)
		for _, p := range r.Problems {
			fmt.Fprintf(out, "          %s: %s\n", p.Path, p.Reason)
		}
	}
	if desired != nil {
		fmt.Fprintf(out, "desired   v%d by %s at %s\n", desired.Version, desired.IssuedBy, desired.IssuedAt.Format(time.RFC3339))
	}
	return cli.ExitOK
}

func fleetPush(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet push-config", "fleet push-config --file FILE [--version N] [--timeout D] [connection flags] [--json] TARGET...", errOut)
	ff := newFleetFlags(fs)
	ff.publishes = true
	file := fs.String("file", "", "configuration overlay (YAML, the configuration file's shape)")
	version := fs.Uint64("version", 0, "version of the document (default: one more than each terminal has seen)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long to wait for the outcomes")
	if rc := cli.ParseArgs(fs, args, 1, -1); rc >= 0 {
		return rc
	}
	if *file == "" {
		fmt.Fprintln(errOut, "--file is required")
		return cli.ExitUsage
	}
	doc, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	ids, err := c.Resolve(ctx, fs.Args())
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	opts := fleet.PushOptions{Version: *version, Timeout: *timeout}
	if !ff.json {
		opts.Progress = func(id string, r mgmt.Reported) {
			if !r.Status.Final() {
				fmt.Fprintf(errOut, "%s: v%d %s\n", id, r.Version, r.Status)
			}
		}
	}
	res, err := c.PushConfig(ctx, ids, doc, opts)
	if ff.json {
		writeJSON(out, res)
	} else {
		for _, r := range res {
			id := r.ID
			if id == "" {
				id = *file
			}
			fmt.Fprintf(out, "%s: v%d %s", id, r.Version, r.Status)
			if r.Reason != "" {
				fmt.Fprintf(out, ": %s", r.Reason)
			}
			fmt.Fprintln(out)
			for _, p := range r.Problems {
				if p.Path != "" {
					fmt.Fprintf(out, "  %s: %s\n", p.Path, p.Reason)
				} else {
					fmt.Fprintf(out, "  %s\n", p.Reason)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	for _, r := range res {
		if !r.OK() {
			return cli.ExitFail
		}
	}
	return cli.ExitOK
}

func fleetCmd(args []string, out, errOut io.Writer) int {
	fs := newFlags("fleet cmd", "fleet cmd [--args JSON] [--timeout D] [connection flags] [--json] NAME TARGET...", errOut)
	ff := newFleetFlags(fs)
	ff.publishes = true
	argJSON := fs.String("args", "", `command arguments as JSON, e.g. '{"level":"debug"}'`)
	timeout := fs.Duration("timeout", 30*time.Second, "time limit of the command on the terminal (at most 10m)")
	if rc := cli.ParseArgs(fs, args, 2, -1); rc >= 0 {
		return rc
	}
	var a json.RawMessage
	if *argJSON != "" {
		if !json.Valid([]byte(*argJSON)) {
			fmt.Fprintln(errOut, "--args must be JSON")
			return cli.ExitUsage
		}
		a = json.RawMessage(*argJSON)
	}
	ctx, c, done, err := ff.open(errOut)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	defer done()
	ids, err := c.Resolve(ctx, fs.Args()[1:])
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	res, err := c.Command(ctx, ids, fs.Arg(0), a, *timeout)
	if err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	rc := cli.ExitOK
	if ff.json {
		writeJSON(out, res)
	}
	for _, r := range res {
		if r.Status != mgmt.ResultOK {
			rc = cli.ExitFail
		}
		if ff.json {
			continue
		}
		fmt.Fprintf(out, "%s: %s", r.ID, r.Status)
		if r.Result != nil {
			if r.Result.Error != "" {
				fmt.Fprintf(out, ": %s [%s]", r.Result.Error, r.Result.Code)
			}
			if len(r.Result.Result) > 0 {
				fmt.Fprintf(out, " %s", r.Result.Result)
			}
		}
		fmt.Fprintln(out)
	}
	return rc
}

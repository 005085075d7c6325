package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

const platformUsage = `Usage: sscsim platform --listen ADDR --keys DIR [flags]

The sandbox one-card-pass application platform (一卡通应用平台沙箱). It serves the
platform protocol (docs/platform-protocol.md) over HTTP and HTTPS on the same ADDR,
verifies signatures, timestamps and request ids, signs its answers, and behaves like a
platform: card registry, e-card codes, payments, backflow intake. Control endpoints
(/_sim/...) issue e-card codes, confirm payments, show the ledger and inject faults.

"sscsim platform login-approve CODE" plays the holder's phone in a QR login (-h there).

Key files live in DIR and are created on first use (see docs/platform-protocol.md,
"The sandbox"). A TEST INSTRUMENT: its keys are not production keys, and with
--test-keys they are the published test keys, which terminals refuse unless
terminal.test is set.

Flags:`

func init() {
	prog.Register("platform", "sandbox one-card-pass platform (HTTP and HTTPS) for tests and the demo", cmdPlatform)
}

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cardHSM returns the HSM half of the two-step card authentication for the sandbox:
// the virtual cards' HSM (card/cardsim), computing with the published test root keys
// (docs/card.md), whatever the key directory.
func cardHSM(keysDir string) platformsim.CardHSM {
	_ = keysDir
	return cardsim.HSM{}
}

func cmdPlatform(args []string, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "login-approve" {
		return runLoginApprove(ctx, args[1:], out, errOut)
	}
	return runPlatform(ctx, args, out, errOut)
}

// runPlatform runs the sandbox until ctx ends.
func runPlatform(ctx context.Context, args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim platform", platformUsage, errOut)
	listen := fs.String("listen", "127.0.0.1:8443", "address for HTTP and HTTPS (a port of 0 picks a free one)")
	keys := fs.String("keys", "", "key directory (created if missing)")
	testKeys := fs.Bool("test-keys", false, "create the published derived test keys instead of random ones")
	var channels, faults, hosts multiFlag
	fs.Var(&channels, "channel", "register this 12-digit channel number (repeatable; default "+platformsim.DefaultChannel+")")
	fs.Var(&faults, "fault", "inject a fault, OP:KIND[:key=value]... (repeatable; see docs/platform-protocol.md)")
	fs.Var(&hosts, "tls-host", "extra host name or address for the TLS certificate (repeatable)")
	seedFile := fs.String("seed-file", "", "registry seed (JSON; default: the built-in shared test identities)")
	randSeed := fs.Int64("rand-seed", 1, "seed of the random source of rate-based faults")
	window := fs.Duration("window", 300*time.Second, "accepted request timestamp distance")
	clockOffset := fs.Duration("clock-offset", 0, "shift the sandbox clock (e.g. 10m makes terminals' timestamps stale)")
	userPaying := fs.Duration("userpaying", 10*time.Second, "how long a password payment stays USERPAYING")
	passwordAbove := fs.String("password-above", "1000.00", "micropay amounts above this need the holder's password")
	qrLife := fs.Duration("qr-lifetime", 60*time.Second, "validity of the e-card codes the sandbox issues")
	tokenFile := fs.String("control-token", "", "file holding a bearer token for /_sim (required to reach it from other hosts)")
	logLevel := fs.String("log", "info", "log level: debug | info | warn | error")
	profile := fs.String("profile", "", "platform profile to speak: a built-in name ("+strings.Join(protocol.BuiltinProfiles(), ", ")+") or a profile file (default sscsim)")
	authorise := fs.String("authorise", "", "authorisation file: per channel the operations, terminal ids and addresses allowed (900005/900006; default: everything)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *keys == "" {
		fmt.Fprintln(errOut, "--keys DIR is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	level, err := logging.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(errOut, "--log: %v\n", err)
		return 2
	}
	log := slog.New(logging.Masking(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level})))

	so := platformsim.StartOptions{Listen: *listen, Channels: channels, TestKeys: *testKeys, TLSHosts: hosts, Profile: *profile}
	if *authorise != "" {
		if so.Authorise, err = platformsim.LoadAuthorisation(*authorise); err != nil {
			fmt.Fprintf(errOut, "sscsim platform: --authorise: %v\n", err)
			return 1
		}
	}
	so.Seed = *randSeed
	so.Window = *window
	so.UserPaying = *userPaying
	so.PasswordAbove = *passwordAbove
	so.QRLifetime = *qrLife
	so.Logger = log
	so.HSM = cardHSM(*keys)
	for _, spec := range faults {
		f, err := platformsim.ParseFault(spec)
		if err != nil {
			fmt.Fprintf(errOut, "--fault: %v\n", err)
			return 2
		}
		so.Faults = append(so.Faults, f)
	}
	if *seedFile != "" {
		b, err := os.ReadFile(*seedFile)
		if err == nil {
			so.Registry, err = platformsim.ParseRegistry(b)
		}
		if err != nil {
			fmt.Fprintf(errOut, "sscsim platform: --seed-file: %v\n", err)
			return 1
		}
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			fmt.Fprintf(errOut, "sscsim platform: --control-token: unreadable or empty: %v\n", err)
			return 1
		}
		so.ControlToken = strings.TrimSpace(string(b))
	}
	sb, err := platformsim.Start(ctx, *keys, so)
	if err != nil {
		fmt.Fprintf(errOut, "sscsim platform: %v\n", err)
		return 1
	}
	sb.SetClockOffset(*clockOffset)
	describe(out, sb, so)
	<-ctx.Done()
	if err := sb.Close(); err != nil {
		fmt.Fprintf(errOut, "sscsim platform: %v\n", err)
		return 1
	}
	fmt.Fprintln(errOut, "sandbox platform stopped")
	return 0
}

// describe prints where the sandbox listens, which keys it uses and the platform
// section a terminal needs.
func describe(w io.Writer, sb *platformsim.Sandbox, so platformsim.StartOptions) {
	kd := sb.Keys
	fmt.Fprintf(w, "sandbox platform listening on %s (HTTP and HTTPS), profile %s\n", sb.Addr, sb.Dialect().Name())
	for _, f := range kd.Created {
		fmt.Fprintf(w, "created %s\n", filepath.Join(kd.Dir, f))
	}
	if kd.Test {
		fmt.Fprintln(w, "keys: the PUBLISHED TEST KEYS (protocol.TestKey): terminals accept them only with terminal.test: true")
	} else {
		fmt.Fprintln(w, "keys: random keys of this key directory (sandbox keys, not for production)")
	}
	fmt.Fprintf(w, "platform key %s\n", kd.Platform.Public().Fingerprint())
	for _, no := range sortedKeys(kd.Channels) {
		fmt.Fprintf(w, "channel %s key %s\n", no, kd.Channels[no].PublicKey.Fingerprint())
	}
	if so.HSM == nil {
		fmt.Fprintln(w, "HSM: none (cardInternalAuth answers 100008)")
	}
	for _, f := range so.Faults {
		fmt.Fprintf(w, "fault: %s %s\n", f.Op, f.Kind)
	}
	no := sortedKeys(kd.Channels)[0]
	dir := filepath.Join(kd.Dir, "channels", no)
	fmt.Fprintf(w, "\nplatform section for a terminal of channel %s:\n", no)
	fmt.Fprintf(w, "platform:\n  baseURL: %s\n  channelNo: %q\n", sb.URL(true), no)
	if sb.Profile != "" {
		fmt.Fprintf(w, "  profile: %s\n", sb.Profile)
	}
	if _, err := os.Stat(filepath.Join(dir, "channel.key.pem")); err == nil {
		fmt.Fprintf(w, "  privateKey: %s\n", filepath.Join(dir, "channel.key.pem"))
	} else {
		fmt.Fprintln(w, "  privateKey: <the terminal's own key, from sscagent keys gen>")
	}
	fmt.Fprintf(w, "  platformPublicKey: %s\n  sm4Key: %s\n  caFile: %s\n",
		filepath.Join(kd.Dir, "platform.pub.pem"), filepath.Join(dir, "sm4.key"), kd.CertFile)
	fmt.Fprintf(w, "\ne-card code for a test holder:\n  curl -s -X POST http://%s/_sim/ecard/qrcode -d '{\"idNumber\":\"350102199003077898\"}'\n", sb.Addr)
	fmt.Fprintf(w, "ledger: curl -s http://%s/_sim/ledger\n", sb.Addr)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

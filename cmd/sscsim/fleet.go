package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/mgmt/fleetsim"
)

const fleetUsage = `Usage: sscsim fleet --broker URL[,URL...] --terminals N [flags]

Simulated terminals for terminal management at scale, all in this process: each is a
real terminal-management session over its own MQTT connection (a will, a retained
birth, telemetry, the built-in commands, remote configuration validated with the
agent's rules, committed through the health gate), with its own state directory. They
connect one every --stagger and run until interrupted (SIGINT, SIGTERM), then stop
cleanly (each publishes its offline state). With several brokers (the nodes of a
cluster) terminal i lists them rotated by i, so the terminals spread over the nodes.

TEST TERMINALS (terminal.test: true): they take unsigned configuration documents and
commands. The process needs one file descriptor per terminal and the broker one per
connection: raise "ulimit -n" (and mosquitto's max_connections, by default unlimited)
for 10,000. About 50 KiB of heap per terminal (docs/benchmarks.md).

Flags:`

func init() {
	prog.Register("fleet", "many simulated terminals against an MQTT broker (test instrument)", cmdFleet)
}

func cmdFleet(args []string, out, errOut io.Writer) int {
	fs := cli.NewFlags("sscsim fleet", fleetUsage, errOut)
	broker := fs.String("broker", "", "broker URL(s), comma-separated (tcp://127.0.0.1:1883)")
	n := fs.Int("terminals", 100, "how many terminals")
	idPrefix := fs.String("id-prefix", "SIM-", "terminal ids are this and a 5-digit number")
	prefix := fs.String("prefix", "", "topic prefix (default: the agent's default)")
	dir := fs.String("dir", "", "state directory root (default: a new temporary directory, removed at the end)")
	telemetry := fs.Duration("telemetry", 30*time.Second, "telemetry interval of every terminal")
	stagger := fs.Duration("stagger", time.Millisecond, "pause between two terminals' connects")
	verbose := fs.Bool("v", false, "log every terminal's messages (errors only otherwise; each test terminal also warns that it takes unsigned documents)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	if *broker == "" || *n <= 0 {
		fmt.Fprintln(errOut, "--broker and a positive --terminals are required")
		fs.Usage()
		return 2
	}
	var brokers []string
	for _, b := range strings.Split(*broker, ",") {
		brokers = append(brokers, strings.TrimSpace(b))
	}
	root := *dir
	if root == "" {
		d, err := os.MkdirTemp("", "sscsim-fleet-")
		if err != nil {
			fmt.Fprintf(errOut, "sscsim fleet: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		root = d
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(errOut, "TEST INSTRUMENT: %d simulated test terminals %s%05d… against %s\n", *n, *idPrefix, 0, *broker)
	t0 := time.Now()
	f, err := fleetsim.Start(ctx, fleetsim.Options{Brokers: brokers, Terminals: *n, IDPrefix: *idPrefix, TopicPrefix: *prefix,
		Dir: root, Telemetry: *telemetry, Stagger: *stagger, Logger: log})
	if err != nil {
		fmt.Fprintf(errOut, "sscsim fleet: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "%d terminals started in %v\n", len(f.IDs), time.Since(t0).Round(time.Millisecond))
	report := time.NewTicker(30 * time.Second)
	defer report.Stop()
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-report.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "%d terminals: heap %.1f KiB, %.1f goroutines per terminal\n", len(f.IDs),
				float64(ms.HeapAlloc)/float64(len(f.IDs))/1024, float64(runtime.NumGoroutine())/float64(len(f.IDs)))
		}
	}
	if err := f.Stop(); err != nil {
		fmt.Fprintf(errOut, "sscsim fleet: %v\n", err)
		return 1
	}
	return 0
}

package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/qrscan"
)

// Options configure Run.
type Options struct {
	EnvOptions
	// In is the console: commands and codes, one per line. At its end the demo keeps
	// running until ctx ends. If it is an io.Closer, Run closes it when it returns (so a
	// pending read ends). Nil: the process's standard input.
	In io.Reader
	// Out receives the flow. Nil: os.Stdout.
	Out io.Writer
	// Color enables ANSI colours.
	Color bool
	// Ready is called once the agent runs and the banner is printed.
	Ready func(*Env, *agent.Agent)
}

// ErrQuit is returned by Run when the console asked to stop (:quit).
var ErrQuit = errors.New("demo: stopped from the console")

// Run starts the demonstration environment and the agent on its generated
// configuration, prints the flow as it happens and handles the console until ctx ends
// (or :quit); then it stops the agent within its shutdown bound, then the environment.
// Unless o.Keep is set it removes the scratch directory at the end.
func Run(ctx context.Context, o Options) (err error) {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	con := NewConsole(out, o.Color)
	dir, err := PrepareDir(o.Dir, o.Keep)
	if err != nil {
		return err
	}
	logFile, log, fileLog, err := openLog(dir, con)
	if err != nil {
		return err
	}
	defer logFile.Close()
	eo := o.EnvOptions
	eo.Dir, eo.Keep, eo.Logger = dir, true, fileLog // prepared above
	env, err := Setup(context.Background(), eo)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := env.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("demo: stop: %w", cerr)
		}
		if !o.Keep {
			logFile.Close()
			if rerr := env.Remove(); rerr != nil && err == nil {
				err = fmt.Errorf("demo: remove %s: %w", env.Dir, rerr)
			}
		}
	}()

	// The console: commands and codes. Codes go to the agent's console scanner through
	// a pipe the agent opens as that scanner's device.
	if o.In == nil {
		o.In = openConsole()
	}
	if c, ok := o.In.(io.Closer); ok {
		defer c.Close() // ends a pending read
	}
	console := &pipeScanner{name: ScannerName}
	defer console.Close()

	bus := event.NewBus(0)
	sub := bus.Subscribe(256, false, 0) // holds the start-up events until the banner is out
	defer sub.Close()
	ready := make(chan struct{})
	a, err := agent.New(env.Config, agent.Options{Logger: log, Events: bus, ConfigPath: env.ConfigPath,
		Scanners: map[string]qrscan.Opener{ScannerName: console}, Ready: func() { close(ready) }})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	hub := func() *simreader.Hub {
		if m := a.Cards(); m != nil {
			return m.SimHub()
		}
		return nil
	}
	if h := hub(); h != nil {
		h.Remove(readers.SimCardReader) // the reader starts empty: :insert puts a card in
	}
	ctl := &Controls{Console: con, Sandbox: env.Sandbox, Hub: hub, API: a.LocalAPIAddr, Token: env.Token,
		Scan: console.Scan, Parts: a.Parts}
	if env.Counter != nil {
		ctl.PayScan = newLineFeed(CounterScanner, env.Counter, "\r\n").Scan
	}

	r := agent.Start(a)
	select {
	case <-ready:
	case <-r.Done():
		return fmt.Errorf("demo: the agent stopped at start: %w", r.Err())
	case <-ctx.Done():
		return stopAgent(r, con)
	}
	con.Text(Plain, Banner(env, waitAddr(ctx, a.LocalAPIAddr), waitAddr(ctx, a.MetricsAddr)))

	watchCtx, stopWatch := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		stopWatch()
		wg.Wait()
	}()
	expect := []string{"reader.attached/" + readers.SimCardReader, "psam.ready/" + readers.SimPSAMSlot,
		"scanner.connected/" + ScannerName}
	if env.Counter != nil {
		expect = append(expect, "scanner.connected/"+CounterScanner)
	}
	st := newSettle(expect...)
	wg.Go(func() { printEvents(watchCtx, sub, con, ctl, st) })
	wg.Go(func() { printGate(watchCtx, env.Gate, con) })
	wg.Go(func() { WatchLedger(watchCtx, env.Sandbox, con, 250*time.Millisecond) })
	unwatch, err := WatchBroker(env.Broker, env.Config.Mgmt.TopicPrefix, con)
	if err != nil {
		_ = stopAgent(r, con)
		return err
	}
	defer unwatch() // before the broker closes: its teardown is no terminal's death
	if o.Ready != nil {
		o.Ready(env, a)
	}

	// The console waits until the readers and scanners are up, so a card inserted or a
	// code typed at once is not missed (a card already in its reader when a scene
	// starts waiting is not read, as at a real terminal's boot).
	select {
	case <-st.done:
	case <-time.After(10 * time.Second):
		con.Line("demo", Warn, "readers or scanners not up after 10s (see %s)", filepath.Join(env.Dir, LogFile))
	case <-ctx.Done():
		return stopAgent(r, con)
	}

	quit := make(chan struct{})
	var quitOnce sync.Once
	ctl.Quit = func() { quitOnce.Do(func() { close(quit) }) }
	lines := make(chan string)
	inputDone := make(chan struct{})
	stopInput := make(chan struct{})
	go readLines(o.In, lines, stopInput, inputDone)
	defer func() {
		close(stopInput)
		// A reader that can be closed is waited for; a read of a terminal that cannot
		// be interrupted (not an io.Closer) ends with the process.
		if c, ok := o.In.(io.Closer); ok {
			c.Close()
			<-inputDone
		}
	}()
	ended := (<-chan struct{})(inputDone)
	for {
		select {
		case l := <-lines:
			ctl.Handle(ctx, l)
		case <-ended:
			ended = nil // a nil channel blocks: stop selecting on it
			con.Line("demo", Note, "console input ended; the agent keeps running until Ctrl-C (SIGINT) or SIGTERM")
		case <-r.Done():
			return fmt.Errorf("demo: the agent stopped: %w", r.Err())
		case <-quit:
			ctl.noteBacklog(o.Keep)
			if err := stopAgent(r, con); err != nil {
				return err
			}
			return ErrQuit
		case <-ctx.Done():
			ctl.noteBacklog(o.Keep)
			return stopAgent(r, con)
		}
	}
}

// waitAddr returns an address (the local API's, the metrics') once it listens, or ""
// when it does not within 5 seconds (the cause is in the log).
func waitAddr(ctx context.Context, addr func() string) string {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		if a := addr(); a != "" {
			return a
		}
		select {
		case <-ctx.Done():
			return ""
		case <-deadline.C:
			return ""
		case <-t.C:
		}
	}
}

// stopAgent stops the agent within its shutdown bound.
func stopAgent(r *agent.Runner, con *Console) error {
	con.Line("demo", Note, "stopping the agent")
	start := time.Now()
	if err := r.Stop(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	con.Line("demo", Note, "agent stopped cleanly in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// settle closes done once every expected event ("kind/source") has been seen.
type settle struct {
	done chan struct{}
	want map[string]bool // owned by printEvents' goroutine
}

func newSettle(keys ...string) *settle {
	s := &settle{done: make(chan struct{}), want: map[string]bool{}}
	for _, k := range keys {
		s.want[k] = true
	}
	return s
}

func (s *settle) observe(e event.Event) {
	if len(s.want) == 0 {
		return
	}
	delete(s.want, string(e.Kind)+"/"+e.Source)
	if len(s.want) == 0 {
		close(s.done)
	}
}

// printEvents prints the agent's events and lets the controls follow the payments.
func printEvents(ctx context.Context, sub *event.Subscription, con *Console, ctl *Controls, st *settle) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.C():
			if d := sub.Dropped(); d > 0 {
				con.Line("agent", Warn, "(%d events not shown: the console fell behind)", d)
			}
			con.Event(e)
			ctl.Observe(e)
			st.observe(e)
		}
	}
}

func printGate(ctx context.Context, g *GateHook, con *Console) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-g.Opened():
			con.Line("gate", Good, "▶ gate opened for scene %s (event #%d)", t.Scene, t.Event)
		}
	}
}

// readLines sends each line of in to lines until in ends or stop is closed, then
// closes done.
func readLines(in io.Reader, lines chan<- string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-stop:
			return
		}
	}
}

// openLog opens the demo's log file in dir and returns two masking loggers: the
// agent's, writing every record to the file and warnings and errors to the console
// too, and the test equipment's (sandbox, broker), writing to the file only.
func openLog(dir string, con *Console) (f *os.File, agentLog, fileLog *slog.Logger, err error) {
	f, err = os.OpenFile(filepath.Join(dir, LogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo: log: %w", err)
	}
	file := slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})
	console := slog.NewTextHandler(consoleLog{con}, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
	return f, slog.New(logging.Masking(slog.NewMultiHandler(file, console))), slog.New(logging.Masking(file)), nil
}

// consoleLog is the console as a log writer: slog writes one record per Write.
type consoleLog struct{ c *Console }

func (l consoleLog) Write(p []byte) (int, error) {
	l.c.Line("log", Warn, "%s", strings.TrimSpace(string(p)))
	return len(p), nil
}

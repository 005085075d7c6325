package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/demo"
)

func init() {
	prog.Register("demo", "run the agent on embedded defaults: sandbox platform, MQTT broker, virtual card reader, this console as the QR scanner", cmdDemo)
}

// cmdDemo is the README's main-job command: everything the agent talks to runs in this
// process on loopback (package demo), the agent runs on a generated configuration, and
// the console prints the flow and takes commands. The first SIGINT/SIGTERM stops it
// cleanly within the agent's shutdown bound; a second one exits at once.
func cmdDemo(args []string, out, errOut io.Writer) int {
	fs := newFlags("demo", "demo [--dir DIR] [--keep] [--listen-api ADDR] [--profile NAME|FILE] [--no-color]", errOut)
	dir := fs.String("dir", ".demo", "scratch directory for the configuration, keys, state and logs")
	keep := fs.Bool("keep", false, "reuse the keys and state an earlier run kept, and keep the directory at the end")
	listen := fs.String("listen-api", "", "local API address (default "+demo.DefaultAPIAddr+", or a free port when it is taken)")
	profile := fs.String("profile", "", "platform profile the sandbox and the agent speak: sscsim (default), appendix-d, or a profile file")
	noColor := fs.Bool("no-color", false, "no colours (also NO_COLOR=1; colours only on a terminal anyway)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	color := false
	if f, ok := out.(*os.File); ok && !*noColor {
		color = demo.ColorFor(f)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() {
		res <- demo.Run(ctx, demo.Options{
			EnvOptions: demo.EnvOptions{Dir: *dir, Keep: *keep, ListenAPI: *listen, Profile: *profile},
			Out:        out,
			Color:      color,
		})
	}()
	stopping := false
	for {
		select {
		case err := <-res:
			if err != nil && !errors.Is(err, demo.ErrQuit) {
				fmt.Fprintln(errOut, "sscagent demo:", err)
				return cli.ExitFail
			}
			return cli.ExitOK
		case s := <-sigs:
			if stopping {
				fmt.Fprintf(errOut, "sscagent demo: second %s: exiting now\n", s)
				return cli.ExitFail
			}
			stopping = true
			fmt.Fprintf(errOut, "\nsscagent demo: %s: stopping (again to exit at once)\n", s)
			cancel()
		}
	}
}

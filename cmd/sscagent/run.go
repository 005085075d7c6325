package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/internal/sysservice"
	"github.com/sscagent/sscagent/records"
)

// exitRestart ends a process that must be started again (a restart requested by
// terminal management that could not re-execute in place): a failure status, so that
// service managers restarting on failure start it again.
const exitRestart = 3

func init() {
	prog.Register("run", "run the agent in the foreground (or under the service manager)", cmdRun)
}

func cmdRun(args []string, out, errOut io.Writer) int {
	fs := newFlags("run", "run --config FILE [--service]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	asService := fs.Bool("service", false, "run under the service manager (set by 'service install')")
	stateDir := fs.String("state-dir", "", "override agent.stateDir (demo and tests)")
	if rc := cli.ParseFlags(fs, args); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err == nil && *stateDir != "" {
		cfg.Agent.StateDir, err = filepath.Abs(*stateDir)
	}
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	logTo := errOut
	if cfg.Log.File != "" || (*asService && runtime.GOOS == "windows") {
		// A Windows service's standard error goes nowhere: its log is a file.
		lf, err := cfg.Log.OpenFile(filepath.Join(cfg.Agent.StateDir, "logs", "sscagent.log"))
		if err != nil {
			fmt.Fprintf(errOut, "sscagent run: %v\n", err)
			return cli.ExitFail
		}
		defer lf.Close()
		logTo = lf
	}
	log, level := logging.New(logTo, cfg.Log, *asService)
	// The path is taken now: after a software update swaps the binaries, the kernel's
	// name for the running program is the old build's.
	exe, err := upgrade.Executable()
	if err != nil {
		log.Warn("software updates off: the program's path is unknown", "err", err)
	}
	if !upgrade.InTrialEnv() {
		again, err := upgrade.Recover(cfg.Agent.StateDir, log.With("component", "upgrade"))
		if err != nil {
			log.Error("upgrade: recovery", "err", err)
		}
		if again {
			return reexec(log, exe)
		}
	}
	// Record values outside the standard's example lists are accepted and reported once
	// each, in the agent's log (masked like every line).
	records.SetWarn(func(field, value string) {
		log.Warn("record value not listed by the standard, accepted", "component", "records", "field", field, "value", value)
	})
	restart := make(chan string, 1)
	var adjust func(*agent.Config)
	if *stateDir != "" {
		sd := cfg.Agent.StateDir
		adjust = func(c *agent.Config) { c.Agent.StateDir = sd }
	}
	a, err := agent.New(cfg, agent.Options{
		Logger:           log,
		Level:            level,
		ConfigPath:       *path,
		Adjust:           adjust,
		Ready:            func() { sysservice.Notify("READY=1\nSTATUS=ready") },
		Waiting:          func(part string) { sysservice.Notify("STATUS=starting: waiting for " + part + " to be up") },
		Watchdog:         func() { sysservice.Notify("WATCHDOG=1") },
		WatchdogInterval: sysservice.WatchdogInterval(),
		Restart: func(reason string) {
			select {
			case restart <- reason:
			default:
			}
		},
		Executable: exe,
	})
	if err != nil {
		log.Error("cannot build the agent", "err", err)
		return cli.ExitFail
	}
	again := func() int { return restartProcess(cfg, exe, args, log) }
	if *asService {
		return runService(*path, a, log, restart, again)
	}
	return runForeground(a, log, restart, again)
}

// restartProcess starts the program again once the agent has stopped; a software
// update staged by terminal management runs its trial first (agent/upgrade.Continue).
func restartProcess(cfg agent.Config, exe string, args []string, log *slog.Logger) int {
	upgrade.Continue(upgrade.TrialOptions{StateDir: cfg.Agent.StateDir, Args: trialArgs(args),
		Window: cfg.Upgrade.HealthWindow.D(), StopTimeout: cfg.Agent.ShutdownTimeout.D(),
		Ping: func() { sysservice.Notify("WATCHDOG=1") }, Log: log.With("component", "upgrade")})
	return reexec(log, exe)
}

// trialArgs are the run command's arguments for a trial child: in the foreground,
// whatever runs this process under the service manager.
func trialArgs(args []string) []string {
	out := []string{"run"}
	for _, a := range args {
		if a != "--service" && a != "-service" && a != "--service=true" {
			out = append(out, a)
		}
	}
	return out
}

// runForeground runs until SIGINT or SIGTERM, then stops within the shutdown bound. A
// second signal forces the exit. SIGHUP reloads the configuration file (the parts it
// affects are rebuilt; an invalid file changes nothing). A restart request (terminal
// management) stops the agent and starts the program again in this process.
func runForeground(a *agent.Agent, log *slog.Logger, restart <-chan string, again func() int) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	r := agent.Start(a)
	for {
		select {
		case <-r.Done():
			if err := r.Err(); err != nil {
				log.Error("agent stopped", "err", err)
				return cli.ExitFail
			}
			return cli.ExitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reload(a, log)
				continue
			}
			log.Info("stopping", "signal", s.String())
			sysservice.Notify("STOPPING=1\nSTATUS=stopping")
			return stopForeground(r, sigs, log)
		case why := <-restart:
			log.Info("restarting", "reason", why)
			sysservice.Notify("RELOADING=1\nSTATUS=restarting in place")
			if rc := stopForeground(r, sigs, log); rc != cli.ExitOK {
				return rc
			}
			signal.Stop(sigs)
			return again()
		}
	}
}

func stopForeground(r *agent.Runner, sigs <-chan os.Signal, log *slog.Logger) int {
	res := make(chan error, 1)
	go func() { res <- r.Stop() }()
	for {
		select {
		case err := <-res:
			if err != nil {
				log.Error("unclean stop", "err", err)
				return cli.ExitFail
			}
			return cli.ExitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			log.Warn("second signal: exiting now", "signal", s.String())
			return cli.ExitFail
		}
	}
}

// reload applies the re-read configuration file in process. systemd sees the unit
// "reloading" meanwhile (a reload that needs a new process re-executes the agent, which
// sends READY=1 again once up).
func reload(a *agent.Agent, log *slog.Logger) {
	sysservice.Notify("RELOADING=1\nSTATUS=reloading the configuration")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Reload(ctx); err != nil {
		log.Error("reload: nothing changed", "err", err)
		sysservice.Notify("READY=1\nSTATUS=ready; the last reload changed nothing (see the log)")
		return
	}
	log.Info("reload: configuration applied")
	sysservice.Notify("READY=1\nSTATUS=ready")
}

// serviceProgram adapts the agent's Runner to the service manager.
type serviceProgram struct {
	a       *agent.Agent
	log     *slog.Logger
	r       *agent.Runner
	restart <-chan string
	again   func() int
}

// Start runs the agent. SIGHUP (systemctl reload) re-reads the configuration, as in the
// foreground: the service manager's library catches only SIGINT and SIGTERM, and a
// SIGHUP left to its default would end the process with a status systemd counts as
// clean, so Restart=on-failure would not bring it back.
func (p *serviceProgram) Start() error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	p.r = agent.Start(p.a)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-p.r.Done():
				// A fatal agent error ends the process so the service manager restarts it.
				if err := p.r.Err(); err != nil {
					p.log.Error("agent stopped", "err", err)
					os.Exit(cli.ExitFail)
				}
				return
			case <-hup:
				reload(p.a, p.log)
			case why := <-p.restart:
				p.log.Info("restarting", "reason", why)
				sysservice.Notify("RELOADING=1\nSTATUS=restarting in place")
				if err := p.r.Stop(); err != nil {
					p.log.Error("unclean stop before restart", "err", err)
				}
				os.Exit(p.again())
			}
		}
	}()
	return nil
}

func (p *serviceProgram) Stop() error {
	sysservice.Notify("STOPPING=1\nSTATUS=stopping")
	if p.r == nil {
		return nil
	}
	return p.r.Stop()
}

func runService(path string, a *agent.Agent, log *slog.Logger, restart <-chan string, again func() int) int {
	p := &serviceProgram{a: a, log: log, restart: restart, again: again}
	if err := sysservice.Run(sysservice.Spec{ConfigPath: path}, p); err != nil {
		if !errors.Is(err, agent.ErrShutdownTimeout) {
			fmt.Fprintln(os.Stderr, err)
		}
		log.Error("service stopped", "err", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

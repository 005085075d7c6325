package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/logging"
	"github.com/sscagent/sscagent/sysservice"
)

func init() {
	register("run", "run the agent in the foreground (or under the service manager)", cmdRun)
}

func cmdRun(args []string, out, errOut io.Writer) int {
	fs := newFlags("run", "run --config FILE [--service]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	asService := fs.Bool("service", false, "run under the service manager (set by 'service install')")
	stateDir := fs.String("state-dir", "", "override agent.stateDir (demo and tests)")
	if rc := parseFlags(fs, args); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err == nil && *stateDir != "" {
		cfg.Agent.StateDir, err = filepath.Abs(*stateDir)
	}
	if err != nil {
		printConfigError(errOut, *path, err)
		return exitFail
	}
	log, level := logging.New(errOut, cfg.Log, *asService)
	a, err := agent.New(cfg, agent.Options{
		Logger: log,
		Level:  level,
		Ready:  func() { sysservice.Notify("READY=1") },
	})
	if err != nil {
		log.Error("cannot build the agent", "err", err)
		return exitFail
	}
	if *asService {
		return runService(*path, a, log)
	}
	return runForeground(*path, a, log, level)
}

// runForeground runs until SIGINT or SIGTERM, then stops within the shutdown bound. A
// second signal forces the exit. SIGHUP re-reads the log level from the file.
func runForeground(path string, a *agent.Agent, log *slog.Logger, level *slog.LevelVar) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	r := agent.Start(a)
	for {
		select {
		case <-r.Done():
			if err := r.Err(); err != nil {
				log.Error("agent stopped", "err", err)
				return exitFail
			}
			return exitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				reloadLevel(path, log, level)
				continue
			}
			log.Info("stopping", "signal", s.String())
			sysservice.Notify("STOPPING=1")
			return stopForeground(r, sigs, log)
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
				return exitFail
			}
			return exitOK
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			log.Warn("second signal: exiting now", "signal", s.String())
			return exitFail
		}
	}
}

// reloadLevel applies the log level of a re-read configuration file. Other changes need
// a restart (or a remote configuration push); an invalid file changes nothing.
func reloadLevel(path string, log *slog.Logger, level *slog.LevelVar) {
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		log.Error("reload: configuration invalid; nothing changed", "err", err)
		return
	}
	l, _ := logging.ParseLevel(cfg.Log.Level)
	level.Set(l)
	log.Info("reload: log level applied", "level", l.String())
}

// serviceProgram adapts the agent's Runner to the service manager.
type serviceProgram struct {
	a   *agent.Agent
	log *slog.Logger
	r   *agent.Runner
}

func (p *serviceProgram) Start() error {
	p.r = agent.Start(p.a)
	go func() {
		// A fatal agent error ends the process so the service manager restarts it.
		<-p.r.Done()
		if err := p.r.Err(); err != nil {
			p.log.Error("agent stopped", "err", err)
			os.Exit(exitFail)
		}
	}()
	return nil
}

func (p *serviceProgram) Stop() error {
	sysservice.Notify("STOPPING=1")
	if p.r == nil {
		return nil
	}
	return p.r.Stop()
}

func runService(path string, a *agent.Agent, log *slog.Logger) int {
	p := &serviceProgram{a: a, log: log}
	if err := sysservice.Run(sysservice.Spec{ConfigPath: path}, p); err != nil {
		if !errors.Is(err, agent.ErrShutdownTimeout) {
			fmt.Fprintln(os.Stderr, err)
		}
		log.Error("service stopped", "err", err)
		return exitFail
	}
	return exitOK
}

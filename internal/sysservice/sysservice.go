// Package sysservice installs and runs sscagent as a system service through
// github.com/kardianos/service: systemd on Linux (System V init where systemd is absent),
// the Service Control Manager on Windows. It also speaks the systemd notify protocol so
// that a Type=notify unit knows when the agent is ready and when it is stopping.
//
// No kardianos type leaves this package.
package sysservice

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kardianos/service"
)

// Name is the service name registered with the service manager.
const Name = "sscagent"

// Program is what the service manager starts and stops. Start must not block. Stop must
// return within the agent's shutdown bound. Shutdown is called instead of Stop when the
// machine itself is shutting down (Windows), and must be just as clean.
type Program interface {
	Start() error
	Stop() error
}

// Actions accepted by Control.
var Actions = []string{"install", "uninstall", "start", "stop", "restart"}

// Description and DisplayName are the service's, on every platform (the MSI's
// ServiceInstall uses the same).
const (
	DisplayName = "Social security card one-card-pass terminal agent"
	Description = "sscagent: card readers, PSAM, QR scanners, platform calls, durable backflow and terminal management."
)

// Spec describes the installed service.
type Spec struct {
	// ConfigPath is the configuration file the service runs with; made absolute.
	ConfigPath string
	// Executable is the binary to run; default the running one.
	Executable string
	// User runs the service as this account when not empty (Unix).
	User string
	// StateDir is the configuration's agent.stateDir; the systemd unit makes it
	// writable when it is not the default /var/lib/sscagent. Empty: the default.
	StateDir string
}

// resolve makes the paths absolute and fills in the running executable.
func (s Spec) resolve() (Spec, error) {
	var err error
	if s.ConfigPath, err = filepath.Abs(s.ConfigPath); err != nil {
		return s, err
	}
	if s.Executable == "" {
		if s.Executable, err = os.Executable(); err != nil {
			return s, err
		}
	}
	if s.StateDir != "" {
		if s.StateDir, err = filepath.Abs(s.StateDir); err != nil {
			return s, err
		}
	}
	return s, nil
}

// arguments are the service's command line after the executable.
func (s Spec) arguments() []string { return []string{"run", "--service", "--config", s.ConfigPath} }

func (s Spec) config() (*service.Config, error) {
	r, err := s.resolve()
	if err != nil {
		return nil, err
	}
	unit, err := Unit(r)
	if err != nil {
		return nil, err
	}
	return &service.Config{
		Name:        Name,
		DisplayName: DisplayName,
		Description: Description,
		Executable:  r.Executable,
		Arguments:   r.arguments(),
		UserName:    r.User,
		Option: service.KeyValue{
			"SystemdScript":          unit, // finished: no template action in it
			"DelayedAutoStart":       true, // Windows: start after the network stack
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
		},
	}, nil
}

type nopProgram struct{}

func (nopProgram) Start(service.Service) error { return nil }
func (nopProgram) Stop(service.Service) error  { return nil }

// Control performs one of Actions on the installed service.
func Control(action string, s Spec) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	svc, err := service.New(nopProgram{}, cfg)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := service.Control(svc, action); err != nil {
		return fmt.Errorf("service %s on %s: %w", action, service.Platform(), err)
	}
	return nil
}

// Status reports the service's state: running, stopped, not installed or unknown.
func Status(s Spec) (string, error) {
	cfg, err := s.config()
	if err != nil {
		return "", err
	}
	svc, err := service.New(nopProgram{}, cfg)
	if err != nil {
		return "", fmt.Errorf("service: %w", err)
	}
	st, err := svc.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed", nil
	case err != nil && st == service.StatusUnknown:
		return "unknown", fmt.Errorf("service status on %s: %w", service.Platform(), err)
	}
	switch st {
	case service.StatusRunning:
		return "running", nil
	case service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// Platform names the service manager in use (linux-systemd, unix-systemv, windows-service).
func Platform() string { return service.Platform() }

// Interactive reports whether the process runs in a terminal session rather than under
// a service manager.
func Interactive() bool { return service.Interactive() }

// Run hands p to the service manager and blocks until the service is stopped. It returns
// Stop's error, if any.
func Run(s Spec, p Program) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	svc, err := service.New(&adapter{p: p}, cfg)
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	return svc.Run()
}

// adapter implements service.Interface and service.Shutdowner.
type adapter struct{ p Program }

var _ service.Shutdowner = (*adapter)(nil)

func (a *adapter) Start(service.Service) error    { return a.p.Start() }
func (a *adapter) Stop(service.Service) error     { return a.p.Stop() }
func (a *adapter) Shutdown(service.Service) error { return a.p.Stop() }

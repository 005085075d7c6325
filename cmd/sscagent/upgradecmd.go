package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/agent/upgrade"
	"github.com/sscagent/sscagent/agent/upgrade/helper"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/logging"
	"github.com/sscagent/sscagent/internal/release"
)

const upgradeUsage = `upgrade apply [--config FILE] [--work DIR] [--service UNIT]

  The root helper of package upgrades, run by sscagent-upgrade.service when the agent
  hands over a package (docs/deploy.md, "Packaged terminals"). It re-verifies the
  agent's request against upgrade.releaseKeys of FILE (root-owned), installs the
  package with dpkg or rpm, restarts UNIT and waits for the new version to report
  healthy; otherwise it reinstalls the previous package. Exit 0 when there was
  nothing to do or the outcome was written for the agent.`

func init() {
	prog.Register("upgrade", "the root helper of package upgrades: upgrade apply (run by sscagent-upgrade.service)", cmdUpgrade)
}

func cmdUpgrade(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, upgradeUsage, errOut, "apply"); rc >= 0 {
		return rc
	}
	fs := newFlags("upgrade apply", "upgrade apply [--config FILE] [--work DIR] [--service UNIT]", errOut)
	path := fs.String("config", defaultConfigPath(), "the configuration file (owned by root): release keys, state directory, health window")
	work := fs.String("work", "/var/lib/sscagent-upgrade", "the helper's own directory (root's): the checked copy and the package kept for a rollback")
	unit := fs.String("service", "sscagent.service", "the agent's systemd unit, restarted after an install")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	fail := func(err error) int { fmt.Fprintf(errOut, "sscagent upgrade apply: %v\n", err); return cli.ExitFail }
	if os.Geteuid() != 0 {
		return fail(errors.New("must run as root (sscagent-upgrade.service)"))
	}
	if err := helper.RootOwned(*path); err != nil {
		return fail(fmt.Errorf("the release keys are taken only from a root-owned configuration: %w", err))
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	for _, k := range cfg.Upgrade.ReleaseKeys {
		if err := helper.RootOwned(k); err != nil {
			return fail(fmt.Errorf("upgrade.releaseKeys: %w", err))
		}
	}
	keys, err := cfg.Upgrade.Keyring()
	if err != nil {
		return fail(err)
	}
	if len(keys) == 0 {
		return fail(errors.New("upgrade.releaseKeys is empty: package upgrades are off"))
	}
	exe, err := upgrade.Executable()
	if err != nil {
		return fail(err)
	}
	kind := upgrade.InstallKind(exe)
	o := helper.Options{StateDir: cfg.Agent.StateDir, WorkDir: *work, Keys: keys, Kind: kind, Arch: runtime.GOARCH,
		MaxBytes: cfg.Upgrade.MaxBytes, HealthWindow: cfg.Upgrade.HealthWindow.D(),
		Restart: func(ctx context.Context) error {
			b, err := exec.CommandContext(ctx, "systemctl", "restart", "--no-block", *unit).CombinedOutput()
			if err != nil {
				return fmt.Errorf("systemctl restart %s: %v %s", *unit, err, b)
			}
			return nil
		}}
	switch kind {
	case release.KindDeb:
		o.Installer, o.CacheDirs = helper.Dpkg{}, []string{"/var/cache/apt/archives"}
	case release.KindRPM:
		o.Installer = helper.RPM{}
	default:
		return fail(fmt.Errorf("%s was not installed from a package (no %s beside it)", exe, upgrade.InstallMarker))
	}
	log, _ := logging.New(errOut, cfg.Log, true)
	o.Log = log.With("component", "upgrade-helper")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := helper.Apply(ctx, o)
	if errors.Is(err, helper.ErrNoRequest) {
		fmt.Fprintln(errOut, "sscagent upgrade apply: no request")
		return cli.ExitOK
	}
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "%s %s: %s\n", r.To, r.Outcome, r.Reason)
	return cli.ExitOK
}

package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/sysservice"
)

func init() {
	prog.Register("service", "install|uninstall|start|stop|restart|status the system service; unit prints its systemd unit", cmdService)
}

func cmdService(args []string, out, errOut io.Writer) int {
	syn := "service install|uninstall|start|stop|restart|status|unit --config FILE [--user NAME]"
	if len(args) == 0 || (!slices.Contains(sysservice.Actions, args[0]) && args[0] != "status" && args[0] != "unit") {
		fmt.Fprintf(errOut, "Usage: sscagent %s\n", syn)
		return cli.ExitUsage
	}
	action := args[0]
	fs := newFlags("service "+action, syn, errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file the service runs with")
	user := fs.String("user", "", "run the service as this user (Unix; default root)")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	spec := sysservice.Spec{ConfigPath: *path, User: *user}
	if action == "status" {
		st, err := sysservice.Status(spec)
		fmt.Fprintf(out, "%s (%s)\n", st, sysservice.Platform())
		if err != nil {
			fmt.Fprintln(errOut, err)
			return cli.ExitFail
		}
		return cli.ExitOK
	}
	if action == "install" || action == "unit" {
		// Refuse to install a service that could not start.
		cfg, err := agent.LoadConfig(*path)
		if err != nil {
			printConfigError(errOut, *path, err)
			return cli.ExitFail
		}
		spec.StateDir = cfg.Agent.StateDir
	}
	if action == "unit" {
		u, err := sysservice.Unit(spec)
		if err != nil {
			fmt.Fprintln(errOut, err)
			return cli.ExitFail
		}
		fmt.Fprint(out, u)
		return cli.ExitOK
	}
	if err := sysservice.Control(action, spec); err != nil {
		fmt.Fprintln(errOut, err)
		return cli.ExitFail
	}
	fmt.Fprintf(out, "service %s: %s done (%s)\n", sysservice.Name, action, sysservice.Platform())
	return cli.ExitOK
}

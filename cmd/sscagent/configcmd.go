package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/credential"
)

func init() {
	prog.Register("config", "check a configuration file: config check --config FILE", cmdConfig)
}

func cmdConfig(args []string, out, errOut io.Writer) int {
	if _, rc := prog.Subcommand(args, "config check --config FILE", errOut, "check"); rc >= 0 {
		return rc
	}
	fs := newFlags("config check", "config check --config FILE [--files]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	files := fs.Bool("files", false, "also check that every referenced secret file (keys, tokens, passwords) exists with safe permissions")
	if rc := cli.ParseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return cli.ExitFail
	}
	if *files {
		var ps config.Problems
		for _, s := range config.Secrets(cfg) {
			err := s.File.Check()
			if errors.Is(err, credential.ErrUnavailable) {
				fmt.Fprintf(errOut, "%s: %s: %s not checked: the service manager hands it only to the service\n", *path, s.Path, s.File)
				continue
			}
			if err != nil {
				ps.Addf(s.Path, "%v", err)
			}
		}
		if err := ps.Err(); err != nil {
			printConfigError(errOut, *path, err)
			return cli.ExitFail
		}
	}
	for _, w := range cfg.Platform.Deprecations() {
		fmt.Fprintf(errOut, "%s: warning: %s\n", *path, w)
	}
	fmt.Fprintf(out, "%s: valid (terminal %s, platform profile %s)\n", *path, cfg.Terminal.ID, profileName(cfg))
	return cli.ExitOK
}

// profileName is the name of the profile the configuration's platform section speaks.
func profileName(cfg agent.Config) string {
	p, err := cfg.Platform.EffectiveProfile()
	if err != nil {
		return "?"
	}
	return p.Name
}

// printConfigError prints a configuration error with every problem on its own line.
func printConfigError(w io.Writer, path string, err error) {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(ce.Problems))
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/config"
)

func init() {
	register("config", "check a configuration file: config check --config FILE", cmdConfig)
}

func cmdConfig(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(errOut, "Usage: sscagent config check --config FILE")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlags("config check", "config check --config FILE [--files]", errOut)
	path := fs.String("config", defaultConfigPath(), "configuration file")
	files := fs.Bool("files", false, "also check that referenced key files exist with safe permissions")
	if rc := parseFlags(fs, args[1:]); rc >= 0 {
		return rc
	}
	cfg, err := agent.LoadConfig(*path)
	if err != nil {
		printConfigError(errOut, *path, err)
		return exitFail
	}
	if *files {
		var ps config.Problems
		for _, f := range []struct {
			path string
			file config.SecretFile
		}{
			{"platform.privateKey", cfg.Platform.PrivateKey},
			{"platform.sm4Key", cfg.Platform.SM4Key},
		} {
			if err := f.file.Check(); err != nil {
				ps.Addf(f.path, "%v", err)
			}
		}
		if err := ps.Err(); err != nil {
			printConfigError(errOut, *path, err)
			return exitFail
		}
	}
	fmt.Fprintf(out, "%s: valid (terminal %s)\n", *path, cfg.Terminal.ID)
	return exitOK
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

package agent

import (
	"strings"

	"github.com/sscagent/sscagent/internal/config"
)

// plainSecrets lists the field paths of the secrets a copy of the disk reveals: every
// plain secret file, and the queue key when it is not wrapped under queue.keySecret.
func plainSecrets(cfg Config) []string {
	var out []string
	for _, s := range config.Secrets(cfg) {
		if s.File.Plain() && s.Path != "queue.keyFile" {
			out = append(out, s.Path)
		}
	}
	if cfg.Queue.KeySecret == "" {
		out = append(out, "queue.keyFile")
	}
	return out
}

// warnPlainSecrets logs and publishes, on a non-test terminal, which secrets are plain
// files (docs/deploy.md, "Keys off the disk"). A lab or test terminal is not warned.
func (a *Agent) warnPlainSecrets(cfg Config) {
	if cfg.Terminal.Test {
		return
	}
	ps := plainSecrets(cfg)
	if len(ps) == 0 {
		return
	}
	a.log.Warn("secrets in plain files: a copy of the disk reveals them; seal them with sscagent keys seal (docs/deploy.md)",
		"secrets", strings.Join(ps, ", "))
	a.emit(KindPlainSecrets, "", "", false, CodePlainSecrets, "", map[string]any{"secrets": ps})
}

package mgmttest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/mgmt/console"
)

// ConsoleParts returns a console manager whose token is token, and an audit log, both
// in the test's directory.
func ConsoleParts(t testing.TB, token string) (console.Manager, *console.Audit) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "manager.token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	mgr, err := console.LoadManager(config.SecretFile(tokenFile), "")
	if err != nil {
		t.Fatal(err)
	}
	audit, err := console.OpenAudit(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { audit.Close() })
	return mgr, audit
}

package agent_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sscagent/sscagent/agent"
)

// FuzzLoadConfig: any file content either loads into a configuration that validates, or
// is refused with an error; nothing panics.
func FuzzLoadConfig(f *testing.F) {
	example, err := os.ReadFile("../packaging/sscagent.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("terminal:\n  id: T1\n  test: true\n"))
	f.Add([]byte("version: 1\nscenes:\n  - name: a\n    kind: identity\n    readers: [\"*\"]\n"))
	f.Add([]byte("log: &a {level: debug}\nmgmt: *a\n"))
	f.Add([]byte("\t\x00: [}"))
	path := filepath.Join(f.TempDir(), "sscagent.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := agent.LoadConfig(path)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("loaded but does not validate: %v", err)
		}
	})
}

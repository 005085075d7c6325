package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/credential"
)

// TestSecretCredential: credential:NAME reads NAME from $CREDENTIALS_DIRECTORY (where
// systemd puts the decrypted credential), is left alone by path resolution, and fails
// clearly where no credentials are handed over.
func TestSecretCredential(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows credentials are DPAPI blobs")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "channel-key"), []byte("the key"), 0o400); err != nil {
		t.Fatal(err)
	}
	s := SecretFile("credential:channel-key")
	if name, ok := s.Credential(); !ok || name != "channel-key" || s.Plain() {
		t.Fatalf("Credential = %q %v, Plain %v", name, ok, s.Plain())
	}
	if got := s.Resolve(func(p string) string { return "/etc/sscagent/" + p }); got != s {
		t.Fatalf("Resolve changed a credential: %q", got)
	}
	if got := SecretFile("keys/a.pem").Resolve(func(p string) string { return "/etc/sscagent/" + p }); got != "/etc/sscagent/keys/a.pem" {
		t.Fatalf("Resolve: %q", got)
	}
	t.Setenv(credential.EnvDir, "")
	if _, err := s.Read(); !errors.Is(err, credential.ErrUnavailable) || !strings.Contains(err.Error(), "credential:channel-key") {
		t.Fatalf("outside the service: %v", err)
	}
	if err := s.Check(); !errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("Check outside the service: %v", err)
	}
	t.Setenv(credential.EnvDir, dir)
	if b, err := s.Read(); err != nil || string(b) != "the key" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := SecretFile("credential:sm4-key").Read(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a credential not handed over: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "channel-key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(); !errors.Is(err, ErrSecretPerm) {
		t.Fatalf("a credential others can read: %v", err)
	}
}

func TestCheckSecrets(t *testing.T) {
	tree := struct {
		A SecretFile `yaml:"a"`
		B SecretFile `yaml:"b"`
		C SecretFile `yaml:"c"`
	}{"credential:good-name", "credential:../bad", "plain/path"}
	var ps Problems
	CheckSecrets(tree, &ps)
	if ps.Len() != 1 || !strings.Contains(ps.List()[0].String(), "b") {
		t.Fatalf("problems: %v", ps.List())
	}
}

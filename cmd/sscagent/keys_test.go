package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// TestKeysSeal seals a new channel key and a random queue secret with the real
// systemd-creds (a host key private to the test), prints the unit lines, and
// systemd-creds decrypt, as systemd does at service start, gives the secrets back.
func TestKeysSeal(t *testing.T) {
	labtest.Require(t, "systemd-creds")
	t.Setenv("SYSTEMD_CREDENTIAL_SECRET", filepath.Join(t.TempDir(), "credential.secret"))
	dir := t.TempDir()
	if _, errOut, rc := runCLI(t, "keys", "gen", "--out", dir); rc != 0 {
		t.Fatal(errOut)
	}
	keyFile := filepath.Join(dir, "channel.key.pem")
	creds := filepath.Join(t.TempDir(), "credentials")
	out, errOut, rc := runCLI(t, "keys", "seal", "--name", "channel-key", "--in", keyFile, "--out", creds)
	sealed := filepath.Join(creds, "channel-key.cred")
	if rc != 0 || out != "LoadCredentialEncrypted=channel-key:"+sealed+"\n" || !strings.Contains(errOut, "credential:channel-key") {
		t.Fatalf("exit %d\n%s%s", rc, out, errOut)
	}
	plain, _ := os.ReadFile(keyFile)
	b, err := os.ReadFile(sealed)
	if err != nil || bytes.Contains(b, plain[30:60]) {
		t.Fatalf("sealed file: %v (or it holds the key)", err)
	}
	if fi, _ := os.Stat(creds); fi.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory mode %v", fi.Mode())
	}
	got, err := exec.Command("systemd-creds", "decrypt", "--name=channel-key", sealed, "-").Output()
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("systemd-creds decrypt: %v", err)
	}
	if _, errOut, rc := runCLI(t, "keys", "seal", "--name", "channel-key", "--in", keyFile, "--out", creds); rc != 1 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Fatalf("overwrite: exit %d %s", rc, errOut)
	}
	out, errOut, rc = runCLI(t, "keys", "seal", "--name", "sscagent-queue", "--random", "--out", creds)
	if rc != 0 || !strings.HasPrefix(out, "LoadCredentialEncrypted=sscagent-queue:") {
		t.Fatalf("random: exit %d\n%s%s", rc, out, errOut)
	}
	got, err = exec.Command("systemd-creds", "decrypt", "--name=sscagent-queue", filepath.Join(creds, "sscagent-queue.cred"), "-").Output()
	if err != nil || len(got) != 32 {
		t.Fatalf("random secret: %d bytes, %v", len(got), err)
	}
	for _, bad := range [][]string{{"--name", "../x", "--random"}, {"--name", "x"}, {"--name", "x", "--random", "--in", keyFile}} {
		if _, _, rc := runCLI(t, append([]string{"keys", "seal", "--out", creds}, bad...)...); rc != 2 {
			t.Errorf("%v: exit %d", bad, rc)
		}
	}
	_ = os.Chmod(keyFile, 0o644)
	if _, errOut, rc := runCLI(t, "keys", "seal", "--name", "other", "--in", keyFile, "--out", creds); rc != 1 || !strings.Contains(errOut, "chmod 600") {
		t.Fatalf("a readable key file: exit %d %s", rc, errOut)
	}
}

package labtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/credential"
)

// Credentials is what systemd hands a service for its LoadCredentialEncrypted= lines,
// made with the real systemd-creds and no running systemd.
type Credentials struct {
	// Dir is the credentials directory, also set as $CREDENTIALS_DIRECTORY for the test.
	Dir string
	// Sealed holds the sealed files, NAME.cred, as `sscagent keys seal` writes them.
	Sealed string
}

// SealCredentials seals each secret with credential.Seal (systemd-creds encrypt
// --with-key=host) under a host key private to the test ($SYSTEMD_CREDENTIAL_SECRET,
// so /var/lib/systemd is not touched), decrypts each sealed file with systemd-creds
// decrypt into a fresh credentials directory as systemd does at service start (mode
// 0400), and sets $CREDENTIALS_DIRECTORY to it for the rest of the test.
func SealCredentials(t testing.TB, secrets map[string][]byte) Credentials {
	t.Helper()
	Require(t, "systemd-creds")
	root := t.TempDir()
	t.Setenv("SYSTEMD_CREDENTIAL_SECRET", filepath.Join(root, "credential.secret"))
	c := Credentials{Dir: filepath.Join(root, "credentials"), Sealed: filepath.Join(root, "sealed")}
	for _, d := range []string{c.Dir, c.Sealed} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sealed, err := credential.Seal(t.Context(), name, secrets[name], "host")
		if err != nil {
			t.Fatalf("seal %s: %v", name, err)
		}
		if strings.Contains(string(sealed), string(secrets[name])) {
			t.Fatalf("sealed %s holds the secret in clear", name)
		}
		in := filepath.Join(c.Sealed, name+credential.Ext)
		if err := os.WriteFile(in, sealed, 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(c.Dir, name)
		if b, err := exec.Command("systemd-creds", "decrypt", "--name="+name, in, out).CombinedOutput(); err != nil {
			t.Fatalf("systemd-creds decrypt %s: %v: %s", name, err, b)
		}
		if err := os.Chmod(out, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(credential.EnvDir, c.Dir)
	return c
}

package credential_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/credential"
	"github.com/sscagent/sscagent/internal/labtest"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"channel-key", "sscagent.queue", "SM4_key1", strings.Repeat("a", 255)} {
		if err := credential.ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "a/b", `a\b`, "a b", "ключ", "a:b", "..", strings.Repeat("a", 256)} {
		if err := credential.ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPath(t *testing.T) {
	t.Setenv(credential.EnvDir, "")
	if runtime.GOOS != "windows" {
		if _, err := credential.Path("channel-key"); err != credential.ErrUnavailable {
			t.Fatalf("no credentials directory: %v", err)
		}
	}
	t.Setenv(credential.EnvDir, "/run/credentials/sscagent.service")
	p, err := credential.Path("channel-key")
	want := filepath.Join("/run/credentials/sscagent.service", "channel-key")
	if runtime.GOOS == "windows" {
		want += credential.Ext
	}
	if err != nil || p != want {
		t.Fatalf("Path = %q, %v; want %q", p, err, want)
	}
	if _, err := credential.Path("../etc/passwd"); err == nil {
		t.Fatal("a name with a slash gave a path")
	}
}

// TestSealSystemd seals with the real systemd-creds and decrypts the file as systemd
// does at service start: the secret comes back, the sealed file does not hold it, and the
// credential does not open under another name or with another host key.
func TestSealSystemd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("systemd credentials")
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	c := labtest.SealCredentials(t, map[string][]byte{"channel-key": secret})
	p, err := credential.Path("channel-key")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = credential.Open("channel-key", got); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	sealed := filepath.Join(c.Sealed, "channel-key"+credential.Ext)
	if b, err := exec.Command("systemd-creds", "decrypt", "--name=queue-secret", sealed, "-").CombinedOutput(); err == nil {
		t.Fatalf("decrypted under another name: %q", b)
	}
	t.Setenv("SYSTEMD_CREDENTIAL_SECRET", filepath.Join(t.TempDir(), "other.secret"))
	if b, err := exec.Command("systemd-creds", "decrypt", "--name=channel-key", sealed, "-").CombinedOutput(); err == nil {
		t.Fatalf("decrypted with another machine's host key: %q", b)
	}
	if _, err := credential.Seal(t.Context(), "channel-key", secret, "nonsense"); err == nil || !strings.Contains(err.Error(), "--with-key") {
		t.Fatalf("unknown --with-key: %v", err)
	}
}

func TestUnitLine(t *testing.T) {
	if got := credential.UnitLine("channel-key", "/etc/sscagent/credentials/channel-key.cred"); got != "LoadCredentialEncrypted=channel-key:/etc/sscagent/credentials/channel-key.cred" {
		t.Fatal(got)
	}
}

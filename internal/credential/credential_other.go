//go:build !windows

package credential

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Open returns the secret in the bytes read from Path: systemd has already decrypted
// them.
func Open(_ string, data []byte) ([]byte, error) { return data, nil }

// WithKeys are the systemd-creds --with-key choices Seal accepts: auto (host and TPM2
// if a TPM2 is present, else host), host (/var/lib/systemd/credential.secret), tpm2,
// host+tpm2, tpm2-absent.
var WithKeys = []string{"auto", "host", "tpm2", "host+tpm2", "tpm2-absent"}

// Seal encrypts plain as credential name for this machine with systemd-creds encrypt
// --with-key=withKey and returns the sealed file's contents. The plain secret goes
// through a pipe, never a file.
func Seal(ctx context.Context, name string, plain []byte, withKey string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	known := false
	for _, k := range WithKeys {
		known = known || k == withKey
	}
	if !known {
		return nil, fmt.Errorf("--with-key %q: one of %s", withKey, strings.Join(WithKeys, ", "))
	}
	tool, err := exec.LookPath("systemd-creds")
	if err != nil {
		return nil, fmt.Errorf("systemd-creds (systemd 250 or later) is needed to seal a credential: %w", err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "encrypt", "--name="+name, "--with-key="+withKey, "-", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(plain), &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && msg != "" {
			return nil, fmt.Errorf("systemd-creds encrypt: %s", msg)
		}
		return nil, fmt.Errorf("systemd-creds encrypt: %w", err)
	}
	if out.Len() == 0 {
		return nil, errors.New("systemd-creds encrypt wrote nothing")
	}
	return out.Bytes(), nil
}

// Restrict limits a sealed file to its owner: the file's mode (0600) already does.
func Restrict(string) error { return nil }

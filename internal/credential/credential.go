// Package credential keeps secrets off the disk: it reads them from the service
// manager's credential store and seals new ones for it. On Linux the store is systemd's
// credentials: the unit's LoadCredentialEncrypted= lines make systemd decrypt each sealed
// file at service start (with the host key, the TPM2, or both) into a private, unswapped
// directory it names in $CREDENTIALS_DIRECTORY; sealing runs systemd-creds encrypt. On
// Windows a credential is a DPAPI blob (machine scope) in the credentials directory,
// decrypted by the agent itself.
package credential

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Prefix marks a secret reference that names a credential instead of a file:
// "credential:channel-key".
const Prefix = "credential:"

// EnvDir is the environment variable that names the credentials directory: set by
// systemd for a unit with LoadCredential=/LoadCredentialEncrypted=; on Windows it
// overrides DefaultDir.
const EnvDir = "CREDENTIALS_DIRECTORY"

// ErrUnavailable is returned when no credentials directory is given to this process:
// on Linux the agent runs outside systemd, or its unit has no LoadCredentialEncrypted=.
var ErrUnavailable = errors.New("no credentials here: $" + EnvDir + " is not set " +
	"(the service manager hands credentials only to the service: run under systemd with a " +
	"LoadCredentialEncrypted= line for it, or systemd-run -p LoadCredentialEncrypted=... for a one-off command)")

// ValidName checks a credential name: 1 to 255 of A-Z a-z 0-9 . _ -, not starting with
// a dot. The name is a file name in the credentials directory and is sealed into the
// credential, so a sealed file cannot be passed off under another name.
func ValidName(name string) error {
	if name == "" || len(name) > 255 {
		return fmt.Errorf("credential name must be 1 to 255 characters, got %d", len(name))
	}
	if name[0] == '.' {
		return fmt.Errorf("credential name %q starts with a dot", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("credential name %q: only letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}

// Path returns the file that holds credential name for this process: on Linux the
// plain file systemd decrypted into $CREDENTIALS_DIRECTORY, on Windows the DPAPI blob
// NAME.cred in $CREDENTIALS_DIRECTORY or DefaultDir. Read it and pass its bytes to Open.
func Path(name string) (string, error) {
	return path(runtime.GOOS, name, os.Getenv)
}

func path(goos, name string, getenv func(string) string) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	dir := getenv(EnvDir)
	if goos == "windows" {
		if dir == "" {
			dir = defaultDir(goos, getenv)
		}
		return filepath.Join(dir, name+Ext), nil
	}
	if dir == "" {
		return "", ErrUnavailable
	}
	return filepath.Join(dir, name), nil
}

// Ext is the file name extension of a sealed credential.
const Ext = ".cred"

// DefaultDir is where `sscagent keys seal` writes sealed credentials: on Linux the
// directory the packaged unit's LoadCredentialEncrypted= lines point into, on Windows
// the directory the agent reads them from.
func DefaultDir() string { return defaultDir(runtime.GOOS, os.Getenv) }

func defaultDir(goos string, getenv func(string) string) string {
	if goos != "windows" {
		return "/etc/sscagent/credentials"
	}
	pd := getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return pd + `\sscagent\credentials`
}

// UnitLine is the systemd unit line that hands the sealed file at path to the service
// as credential name.
func UnitLine(name, path string) string {
	return "LoadCredentialEncrypted=" + name + ":" + path
}

// entropy binds a DPAPI blob to its credential name, as systemd-creds embeds the name:
// a blob renamed to another credential does not open.
func entropy(name string) []byte { return []byte("sscagent credential " + name) }

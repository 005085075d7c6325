package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// MaxSecretSize bounds a secret file (keys and passwords are small).
const MaxSecretSize = 64 << 10

// ErrSecretPerm is returned for a private secret file that group or others can read.
var ErrSecretPerm = errors.New("readable by group or others; chmod 600 it")

// SecretFile is the path of a file that holds a secret: a private key, an SM4 key, a
// password or a token. Secrets never live in the configuration file itself.
type SecretFile string

// Read returns the file's contents. On Unix a file that group or others can read is
// refused: a leaked terminal key lets anyone sign requests as this terminal.
func (s SecretFile) Read() ([]byte, error) {
	if s == "" {
		return nil, errors.New("no secret file configured")
	}
	f, err := os.Open(string(s))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s, err)
	}
	defer f.Close()
	if err := checkPerm(f); err != nil {
		return nil, fmt.Errorf("secret %s: %w", s, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s, err)
	}
	if len(data) > MaxSecretSize {
		return nil, fmt.Errorf("secret %s: larger than %d bytes", s, MaxSecretSize)
	}
	return data, nil
}

// Check verifies that the file exists and has safe permissions without reading it.
func (s SecretFile) Check() error {
	f, err := os.Open(string(s))
	if err != nil {
		return err
	}
	defer f.Close()
	return checkPerm(f)
}

func checkPerm(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("mode %04o: %w", fi.Mode().Perm(), ErrSecretPerm)
	}
	return nil
}

package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"

	"github.com/sscagent/sscagent/internal/credential"
)

// MaxSecretSize bounds a secret file (keys and passwords are small).
const MaxSecretSize = 64 << 10

// ErrSecretPerm is returned for a private secret file that group or others can read.
var ErrSecretPerm = errors.New("readable by group or others; chmod 600 it")

// SecretFile says where a secret is: a private key, an SM4 key, a password or a
// token. Secrets never live in the configuration file itself. The value is either the
// path of a plain file (the lab's way: a copy of the disk has the secret) or
// "credential:NAME", a credential of the service manager's store (package credential:
// systemd's LoadCredentialEncrypted= on Linux, a DPAPI blob on Windows), which keeps
// the secret off the disk in clear.
type SecretFile string

// Credential returns the credential name of a "credential:NAME" reference.
func (s SecretFile) Credential() (name string, ok bool) {
	return strings.CutPrefix(string(s), credential.Prefix)
}

// Plain reports whether s names a plain file (set, and not a credential).
func (s SecretFile) Plain() bool {
	_, cred := s.Credential()
	return s != "" && !cred
}

// Resolve makes a relative plain path absolute with abs; a credential reference stays.
func (s SecretFile) Resolve(abs func(string) string) SecretFile {
	if !s.Plain() {
		return s
	}
	return SecretFile(abs(string(s)))
}

// Read returns the secret. On Unix a file that group or others can read is refused: a
// leaked terminal key lets anyone sign requests as this terminal.
func (s SecretFile) Read() ([]byte, error) {
	if s == "" {
		return nil, errors.New("no secret file configured")
	}
	name, cred := s.Credential()
	path := string(s)
	if cred {
		var err error
		if path, err = credential.Path(name); err != nil {
			return nil, fmt.Errorf("secret %s: %w", s, err)
		}
	}
	data, err := readSecret(path)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", s, err)
	}
	if cred {
		if data, err = credential.Open(name, data); err != nil {
			return nil, fmt.Errorf("secret %s: %w", s, err)
		}
	}
	return data, nil
}

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := checkPerm(f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSecretSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxSecretSize)
	}
	return data, nil
}

// Check verifies that the file exists and has safe permissions without reading it. For
// a credential it checks the file the service manager handed over; outside the
// service (no credentials directory) it returns an error wrapping
// credential.ErrUnavailable.
func (s SecretFile) Check() error {
	path := string(s)
	if name, cred := s.Credential(); cred {
		var err error
		if path, err = credential.Path(name); err != nil {
			return err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return checkPerm(f)
}

// CheckSecrets adds a problem for every credential reference in tree whose name is
// not a valid credential name.
func CheckSecrets(tree any, ps *Problems) {
	for _, s := range Secrets(tree) {
		if name, cred := s.File.Credential(); cred {
			if err := credential.ValidName(name); err != nil {
				ps.Addf(s.Path, "%v", err)
			}
		}
	}
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

// NamedSecret is a secret file referenced by a configuration, with the field path that
// names it.
type NamedSecret struct {
	Path string
	File SecretFile
}

// Secrets walks a configuration tree (a struct, by its yaml tags) and returns every
// non-empty SecretFile in it with its field path, in field order. Sections added later
// are covered without being listed anywhere.
func Secrets(tree any) []NamedSecret {
	var out []NamedSecret
	walkSecrets(reflect.ValueOf(tree), "", &out)
	return out
}

var secretType = reflect.TypeOf(SecretFile(""))

func walkSecrets(v reflect.Value, path string, out *[]NamedSecret) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSecrets(v.Elem(), path, out)
		}
	case reflect.String:
		if v.Type() == secretType && v.String() != "" {
			*out = append(*out, NamedSecret{path, SecretFile(v.String())})
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			walkSecrets(v.Field(i), Join(path, name), out)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkSecrets(v.Index(i), Index(path, i), out)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			walkSecrets(v.MapIndex(k), Join(path, fmt.Sprint(k)), out)
		}
	}
}

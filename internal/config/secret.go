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

package queue

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emmansun/gmsm/sm3"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform/protocol"
)

// WrapFileName is the wrapped queue key's file in the state directory.
const WrapFileName = "queue.keywrap"

// MinSecretSize is the shortest queue.keySecret accepted: 128 bits.
const MinSecretSize = 16

// KeySource says where the queue key comes from (Config.KeySource). Without Secret the
// key is the plain file Plain. With Secret the key is stored wrapped in Wrapped:
// SM4-GCM under a key-wrapping key derived from the secret with HKDF-SM3 (a random
// salt kept beside the wrapped key, the label wrapLabel), so the state directory alone
// decrypts nothing.
type KeySource struct {
	// Plain is the plain key file: queue.keyFile, or queue.key in the state directory.
	Plain config.SecretFile
	// Secret is queue.keySecret, usually credential:NAME; empty: the plain file.
	Secret config.SecretFile
	// Wrapped is the wrapped key's file, queue.keywrap in the state directory.
	Wrapped string
}

// KeyFrom says where Load found the key.
type KeyFrom int

// Where Load found the key.
const (
	KeyFromPlain    KeyFrom = iota // the plain key file
	KeyFromWrapped                 // the wrapped key, opened with the secret
	KeyFromMigrated                // the plain key file, now wrapped and the plain file deleted
)

// Load returns the queue key. With create (the agent) a missing key is made, and with
// a Secret a plain key file is migrated: its key is wrapped, the wrapped file written
// durably and read back, and only then the plain file deleted; the records stay
// readable. Without create (the CLI) nothing is written.
func (s KeySource) Load(create bool) ([]byte, KeyFrom, error) {
	if s.Secret == "" {
		if _, err := os.Lstat(s.Wrapped); err == nil {
			return nil, 0, fmt.Errorf("queue key: %s: %w", s.Wrapped, ErrKeyWrapped)
		}
		k, err := LoadKey(s.Plain, create)
		return k, KeyFromPlain, err
	}
	secret, err := s.Secret.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("queue key: queue.keySecret: %w (the queue key is wrapped under it: without it nothing in the state directory opens)", err)
	}
	if len(secret) < MinSecretSize {
		return nil, 0, fmt.Errorf("queue key: queue.keySecret %s: %d bytes, at least %d needed", s.Secret, len(secret), MinSecretSize)
	}
	if data, err := os.ReadFile(s.Wrapped); err == nil {
		k, err := unwrapKey(data, secret)
		if err != nil {
			return nil, 0, fmt.Errorf("queue key %s: %w", s.Wrapped, err)
		}
		if create {
			if err := s.dropPlain(k); err != nil {
				return nil, 0, err
			}
		}
		return k, KeyFromWrapped, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("queue key: %w", err)
	}
	k, err := LoadKey(s.Plain, false)
	from := KeyFromMigrated
	switch {
	case err == nil && !create:
		return k, KeyFromPlain, nil
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return nil, 0, err
	case !create:
		return nil, 0, fmt.Errorf("queue key: %s: %w", s.Wrapped, os.ErrNotExist)
	default:
		if k, err = protocol.NewSM4Key(); err != nil {
			return nil, 0, err
		}
		from = KeyFromWrapped
	}
	// The file on disk, read back: another process may have written it meanwhile.
	if k, err = s.writeWrapped(k, secret); err != nil {
		return nil, 0, err
	}
	if err := s.dropPlain(k); err != nil {
		return nil, 0, err
	}
	return k, from, nil
}

// writeWrapped writes k wrapped under secret and returns the key the file on disk
// holds, read back.
func (s KeySource) writeWrapped(k, secret []byte) ([]byte, error) {
	w, err := wrapKey(k, secret)
	if err != nil {
		return nil, err
	}
	if err := writeKey(s.Wrapped, w); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("queue key: write %s: %w", s.Wrapped, err)
	}
	data, err := os.ReadFile(s.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("queue key: %w", err)
	}
	got, err := unwrapKey(data, secret)
	if err != nil {
		return nil, fmt.Errorf("queue key %s: %w", s.Wrapped, err)
	}
	return got, nil
}

// dropPlain deletes the plain key file once the wrapped key holds the same key; a
// plain file with another key is an error (two keys: a person decides).
func (s KeySource) dropPlain(k []byte) error {
	if s.Plain == "" {
		return nil
	}
	p, err := LoadKey(s.Plain, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(p, k) {
		return fmt.Errorf("queue key: %s and %s hold different keys; move the one the queue was not written with away", s.Plain, s.Wrapped)
	}
	if err := os.Remove(string(s.Plain)); err != nil {
		return fmt.Errorf("queue key: removing the plain key after wrapping it: %w", err)
	}
	return nil
}

// The wrapped key's file: one line,
//
//	sscagent-queue-keywrap v1 salt=<32 hex> key=<hex of nonce, SM4-GCM ciphertext, tag>
//
// The key-wrapping key is HKDF-SM3(secret, salt, wrapLabel), 16 bytes; the first two
// fields and the salt are the additional data.
const (
	wrapMagic = "sscagent-queue-keywrap v1"
	wrapLabel = "sscagent queue key-wrapping key v1"
)

func wrapKEK(secret, salt []byte) (*sealer, error) {
	kek, err := hkdf.Key(sm3.New, secret, salt, wrapLabel, 16)
	if err != nil {
		return nil, err
	}
	return newSealer(kek)
}

func wrapKey(k, secret []byte) ([]byte, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	s, err := wrapKEK(secret, salt)
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal(nil, k, wrapAD(salt))
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%s salt=%x key=%x\n", wrapMagic, salt, sealed), nil
}

func wrapAD(salt []byte) []byte { return append([]byte(wrapMagic), salt...) }

// parseWrap splits a wrapped key's file into its salt and sealed key.
func parseWrap(data []byte) (salt, sealed []byte, err error) {
	line, ok := strings.CutSuffix(string(data), "\n")
	rest, okm := strings.CutPrefix(line, wrapMagic+" ")
	f := strings.Fields(rest)
	if !ok || !okm || len(f) != 2 {
		return nil, nil, errors.New("not a wrapped queue key (want one line: " + wrapMagic + " salt=... key=...)")
	}
	sh, ok1 := strings.CutPrefix(f[0], "salt=")
	kh, ok2 := strings.CutPrefix(f[1], "key=")
	if salt, err = hex.DecodeString(sh); !ok1 || err != nil || len(salt) != 16 {
		return nil, nil, errors.New("wrapped queue key: salt must be 32 hex digits")
	}
	if sealed, err = hex.DecodeString(kh); !ok2 || err != nil || len(sealed) != sealOverhead+16 {
		return nil, nil, fmt.Errorf("wrapped queue key: key must be %d hex digits", 2*(sealOverhead+16))
	}
	return salt, sealed, nil
}

func unwrapKey(data, secret []byte) ([]byte, error) {
	salt, sealed, err := parseWrap(data)
	if err != nil {
		return nil, err
	}
	s, err := wrapKEK(secret, salt)
	if err != nil {
		return nil, err
	}
	k, err := s.open(sealed, wrapAD(salt))
	if err != nil {
		return nil, ErrWrongSecret
	}
	return k, nil
}

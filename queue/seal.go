package queue

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/sm4"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform/protocol"
)

// sealer encrypts record bodies at rest: SM4-GCM with a random 96-bit nonce and the
// record's lane and sequence number as additional data, so a body cannot be moved to
// another record without failing authentication. (protocol.FieldCipher is the same
// cipher for text fields on the wire; at rest we need raw bytes and additional data.)
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("queue key: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("queue key: %w", err)
	}
	return &sealer{aead: a}, nil
}

const sealOverhead = 12 + 16

func sealAD(lane Lane, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'s', 's', 'c', 'q', byte(lane)}, seq)
}

// seal appends nonce || ciphertext || tag of plain to dst.
func (s *sealer) seal(dst, plain, ad []byte) ([]byte, error) {
	n := len(dst)
	dst = append(dst, make([]byte, 12)...)
	if _, err := rand.Read(dst[n:]); err != nil {
		return nil, fmt.Errorf("queue: nonce: %w", err)
	}
	return s.aead.Seal(dst, dst[n:], plain, ad), nil
}

var errOpen = errors.New("body does not authenticate (damaged at rest or another key)")

func (s *sealer) open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, errOpen
	}
	p, err := s.aead.Open(nil, sealed[:12], sealed[12:], ad)
	if err != nil {
		return nil, errOpen
	}
	return p, nil
}

// LoadKey reads the queue's SM4 key file (32 hex digits, mode 0600, the format of the
// platform's sm4Key). With create, a missing file is created with a new random key,
// so that a fresh terminal encrypts from its first record.
func LoadKey(path config.SecretFile, create bool) ([]byte, error) {
	data, err := path.Read()
	if errors.Is(err, os.ErrNotExist) && create {
		k, err := protocol.NewSM4Key()
		if err != nil {
			return nil, err
		}
		err = writeKey(string(path), protocol.FormatSM4Key(k))
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("queue key: create %s: %w", path, err)
		}
		data, err = path.Read() // created meanwhile by another process: use that one
	}
	if err != nil {
		return nil, fmt.Errorf("queue key: %w", err)
	}
	k, err := protocol.ParseSM4Key(data)
	if err != nil {
		return nil, fmt.Errorf("queue key %s: %w", path, err)
	}
	return k, nil
}

// writeKey creates path with data, mode 0600, durably. The key is written to a
// temporary file first and linked into place, so a crash never leaves a partial key under
// the real name, and a key created meanwhile by someone else is never replaced.
func writeKey(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".new"
	_ = os.Remove(tmp) // left by a crash
	if err := protocol.WriteNewFile(tmp, data, 0o600); err != nil {
		return err
	}
	err := os.Link(tmp, path)
	_ = os.Remove(tmp)
	return err
}

package protocol

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// PrivateKey is an SM2 private key (a channel's or the platform's).
type PrivateKey struct {
	k *sm2.PrivateKey
}

// PublicKey is an SM2 public key.
type PublicKey struct {
	k *ecdsa.PublicKey
}

// GenerateKey returns a new random SM2 key pair.
func GenerateKey() (*PrivateKey, error) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sm2 generate key: %w", err)
	}
	return &PrivateKey{k}, nil
}

// Public returns the public half of k.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{&k.k.PublicKey}
}

// MarshalPEM encodes k as a PKCS#8 "PRIVATE KEY" PEM block, the form OpenSSL 3 reads.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	der, err := smx509.MarshalPKCS8PrivateKey(k.k)
	if err != nil {
		return nil, fmt.Errorf("marshal sm2 private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPEM encodes p as a SubjectPublicKeyInfo "PUBLIC KEY" PEM block.
func (p *PublicKey) MarshalPEM() ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(p.k)
	if err != nil {
		return nil, fmt.Errorf("marshal sm2 public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Uncompressed returns the 65-byte point 04||X||Y.
func (p *PublicKey) Uncompressed() []byte {
	out := make([]byte, 65)
	out[0] = 4
	p.k.X.FillBytes(out[1:33])
	p.k.Y.FillBytes(out[33:])
	return out
}

// Fingerprint identifies a public key in logs and key listings: the first 16 bytes of
// SM3 over the uncompressed point, in hex. It reveals nothing secret.
func (p *PublicKey) Fingerprint() string {
	h := sm3.Sum(p.Uncompressed())
	return hex.EncodeToString(h[:16])
}

// Equal reports whether p and q are the same key.
func (p *PublicKey) Equal(q *PublicKey) bool {
	return p != nil && q != nil && p.k.Equal(q.k)
}

// ErrKeyFormat is returned for key material this package cannot read.
var ErrKeyFormat = errors.New("unrecognised key format")

// ParsePrivateKey reads an SM2 private key: a PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE
// KEY" PEM block. Encrypted PEM is not supported; protect the file with its mode.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("sm2 private key: %w: no PEM block", ErrKeyFormat)
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = smx509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = smx509.ParseTypedECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("sm2 private key: %w: PEM type %q", ErrKeyFormat, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("sm2 private key: %w", err)
	}
	k, ok := key.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sm2 private key: %w: %T is not an SM2 key", ErrKeyFormat, key)
	}
	return &PrivateKey{k}, nil
}

// ParsePublicKey reads an SM2 public key: a "PUBLIC KEY" PEM block (SubjectPublicKeyInfo),
// or the bare uncompressed point 04||X||Y written as 130 hex digits or in base64, the
// form some platforms hand out.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("sm2 public key: %w: PEM type %q", ErrKeyFormat, b.Type)
		}
		key, err := smx509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sm2 public key: %w", err)
		}
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok || !sm2.IsSM2PublicKey(pub) {
			return nil, fmt.Errorf("sm2 public key: %w: %T is not an SM2 key", ErrKeyFormat, key)
		}
		return &PublicKey{pub}, nil
	}
	s := strings.TrimSpace(string(data))
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 65 {
		raw, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(raw) != 65 {
		return nil, fmt.Errorf("sm2 public key: %w: neither PEM nor a 65-byte point", ErrKeyFormat)
	}
	pub, err := sm2.NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("sm2 public key: %w", err)
	}
	return &PublicKey{pub}, nil
}

// Test keys. The sandbox platform does not invent keys: every key it uses is derived
// from a published seed and a label, so anyone can recompute them and a terminal can
// recognise them. A production terminal (terminal.test false) refuses them.
//
//	scalar d = 1 + (SM3(TestKeySeed || label) mod (n - 1))   n = order of the SM2 curve
//	SM4 key  = first 16 bytes of SM3(TestKeySeed || "sm4/" + channelNo)
//
// Labels: "platform" for the platform's pair, "channel/" + channelNo for a channel.
const TestKeySeed = "sscagent sandbox test key v1\x00"

// TestPlatformLabel is the label of the sandbox platform's key pair.
const TestPlatformLabel = "platform"

// TestChannelLabel returns the label of the test key pair of a channel.
func TestChannelLabel(channelNo string) string { return "channel/" + channelNo }

// TestKey derives the well-known test key pair for label.
func TestKey(label string) *PrivateKey {
	h := sm3.Sum([]byte(TestKeySeed + label))
	n := new(big.Int).Sub(sm2.P256().Params().N, big.NewInt(1))
	d := new(big.Int).Mod(new(big.Int).SetBytes(h[:]), n)
	d.Add(d, big.NewInt(1))
	k, err := sm2.NewPrivateKeyFromInt(d)
	if err != nil {
		panic("protocol: test key derivation: " + err.Error()) // d is in [1, n-1] by construction
	}
	return &PrivateKey{k}
}

// TestSM4Key derives the well-known test SM4 key of a channel.
func TestSM4Key(channelNo string) []byte {
	h := sm3.Sum([]byte(TestKeySeed + "sm4/" + channelNo))
	return h[:16]
}

// IsTestKey reports whether p is the sandbox platform's key or the test key of
// channelNo.
func IsTestKey(p *PublicKey, channelNo string) bool {
	return p.Equal(TestKey(TestPlatformLabel).Public()) || p.Equal(TestKey(TestChannelLabel(channelNo)).Public())
}

// IsTestSM4Key reports whether key is the test SM4 key of channelNo.
func IsTestSM4Key(key []byte, channelNo string) bool {
	return string(key) == string(TestSM4Key(channelNo))
}

// WriteNewFile creates path with mode perm and writes data to it, synced to disk. It
// never replaces an existing file: that is an error wrapping os.ErrExist, because
// overwriting a key loses it for good.
func WriteNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

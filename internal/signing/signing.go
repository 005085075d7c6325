// Package signing holds the keys that sign what a terminal must trust without trusting
// the channel it came over: management documents and commands (a manager key) and
// software artifacts (a release key).
//
// Two algorithms are offered, chosen per key: SM2 with SM3 and the default signer id
// 1234567812345678 (GB/T 32918, GM/T 0009), the form Chinese platforms expect, and
// Ed25519. Keys are PEM files OpenSSL 3 reads (PKCS#8 private, SubjectPublicKeyInfo
// public); signatures are detached bytes (SM2: ASN.1 DER, Ed25519: 64 bytes) that
// `openssl dgst -sm3 -verify` and `openssl pkeyutl -verify -rawin` check. A public key is
// named by its ID, so a message says which key signed it and a terminal that pins two
// keys (rotation) knows which one to try.
package signing

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Algorithm names a signature algorithm.
type Algorithm string

// The algorithms.
const (
	SM2     Algorithm = "sm2"
	Ed25519 Algorithm = "ed25519"
)

// ParseAlgorithm reads an algorithm name.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch a := Algorithm(strings.ToLower(strings.TrimSpace(s))); a {
	case SM2, Ed25519:
		return a, nil
	}
	return "", fmt.Errorf("signature algorithm %q: want sm2 or ed25519", s)
}

// DefaultSignerID is the SM2 user id (ZA) every SM2 signature here uses, the GM/T 0009
// default that OpenSSL names with -sigopt distid:1234567812345678.
const DefaultSignerID = "1234567812345678"

// Errors.
var (
	ErrKeyFormat    = errors.New("unrecognised key format")
	ErrBadSignature = errors.New("signature does not verify")
	ErrUnknownKey   = errors.New("signed by a key that is not pinned")
)

// PrivateKey is a signing key.
type PrivateKey struct {
	sm2 *sm2.PrivateKey
	ed  ed25519.PrivateKey
}

// PublicKey is a verifying key.
type PublicKey struct {
	sm2 *ecdsa.PublicKey
	ed  ed25519.PublicKey
	id  string
}

// Generate returns a new random key of algorithm alg.
func Generate(alg Algorithm) (*PrivateKey, error) {
	switch alg {
	case SM2:
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sm2 generate key: %w", err)
		}
		return &PrivateKey{sm2: k}, nil
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("ed25519 generate key: %w", err)
		}
		return &PrivateKey{ed: k}, nil
	}
	return nil, fmt.Errorf("signature algorithm %q: want sm2 or ed25519", alg)
}

// Algorithm returns the key's algorithm.
func (k *PrivateKey) Algorithm() Algorithm {
	if k.sm2 != nil {
		return SM2
	}
	return Ed25519
}

// Public returns the verifying half of k.
func (k *PrivateKey) Public() *PublicKey {
	if k.sm2 != nil {
		return newPublic(&k.sm2.PublicKey, nil)
	}
	return newPublic(nil, k.ed.Public().(ed25519.PublicKey))
}

// Sign signs msg: SM2 over SM3(ZA || msg) with the default signer id, DER encoded; or
// Ed25519 over msg itself.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	if k.sm2 != nil {
		sig, err := k.sm2.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
		if err != nil {
			return nil, fmt.Errorf("sm2 sign: %w", err)
		}
		return sig, nil
	}
	return ed25519.Sign(k.ed, msg), nil
}

// MarshalPEM encodes k as a PKCS#8 "PRIVATE KEY" PEM block.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	var (
		der []byte
		err error
	)
	if k.sm2 != nil {
		der, err = smx509.MarshalPKCS8PrivateKey(k.sm2)
	} else {
		der, err = x509.MarshalPKCS8PrivateKey(k.ed)
	}
	if err != nil {
		return nil, fmt.Errorf("marshal %s private key: %w", k.Algorithm(), err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newPublic(s *ecdsa.PublicKey, e ed25519.PublicKey) *PublicKey {
	p := &PublicKey{sm2: s, ed: e}
	der, err := p.spki()
	if err != nil {
		// Both encoders only fail for key types they do not know; ours are fixed.
		panic("signing: marshal public key: " + err.Error())
	}
	h := sha256.Sum256(der)
	p.id = hex.EncodeToString(h[:8])
	return p
}

func (p *PublicKey) spki() ([]byte, error) {
	if p.sm2 != nil {
		return smx509.MarshalPKIXPublicKey(p.sm2)
	}
	return x509.MarshalPKIXPublicKey(p.ed)
}

// Algorithm returns the key's algorithm.
func (p *PublicKey) Algorithm() Algorithm {
	if p.sm2 != nil {
		return SM2
	}
	return Ed25519
}

// ID names the key: the first 8 bytes of SHA-256 over its SubjectPublicKeyInfo DER, in
// hex (16 digits). `openssl pkey -pubin -outform DER | sha256sum` gives the same.
func (p *PublicKey) ID() string { return p.id }

// String returns "algorithm:id".
func (p *PublicKey) String() string { return string(p.Algorithm()) + ":" + p.id }

// MarshalPEM encodes p as a SubjectPublicKeyInfo "PUBLIC KEY" PEM block.
func (p *PublicKey) MarshalPEM() ([]byte, error) {
	der, err := p.spki()
	if err != nil {
		return nil, fmt.Errorf("marshal %s public key: %w", p.Algorithm(), err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// Verify checks sig over msg. The error wraps ErrBadSignature.
func (p *PublicKey) Verify(msg, sig []byte) error {
	ok := false
	if p.sm2 != nil {
		ok = sm2.VerifyASN1WithSM2(p.sm2, nil, msg, sig)
	} else {
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(p.ed, msg, sig)
	}
	if !ok {
		return fmt.Errorf("%s key %s: %w", p.Algorithm(), p.id, ErrBadSignature)
	}
	return nil
}

// ParsePrivateKey reads a PKCS#8 "PRIVATE KEY" PEM block holding an SM2 or Ed25519 key.
func ParsePrivateKey(data []byte) (*PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("signing key: %w: no PEM block", ErrKeyFormat)
	}
	if b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key: %w: PEM type %q (want PRIVATE KEY, PKCS#8)", ErrKeyFormat, b.Type)
	}
	key, err := smx509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	switch k := key.(type) {
	case *sm2.PrivateKey:
		return &PrivateKey{sm2: k}, nil
	case ed25519.PrivateKey:
		return &PrivateKey{ed: k}, nil
	}
	return nil, fmt.Errorf("signing key: %w: %T is neither SM2 nor Ed25519", ErrKeyFormat, key)
}

// ParsePublicKey reads a "PUBLIC KEY" PEM block holding an SM2 or Ed25519 key.
func ParsePublicKey(data []byte) (*PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("public key: %w: no PEM block", ErrKeyFormat)
	}
	if b.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("public key: %w: PEM type %q (want PUBLIC KEY)", ErrKeyFormat, b.Type)
	}
	key, err := smx509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if !sm2.IsSM2PublicKey(k) {
			return nil, fmt.Errorf("public key: %w: an ECDSA key on another curve than SM2", ErrKeyFormat)
		}
		return newPublic(k, nil), nil
	case ed25519.PublicKey:
		return newPublic(nil, k), nil
	}
	return nil, fmt.Errorf("public key: %w: %T is neither SM2 nor Ed25519", ErrKeyFormat, key)
}

// Keyring is a set of pinned public keys (two during a rotation).
type Keyring []*PublicKey

// Find returns the key named id.
func (r Keyring) Find(id string) (*PublicKey, bool) {
	for _, k := range r {
		if k.ID() == id {
			return k, true
		}
	}
	return nil, false
}

// Verify checks that sig over msg was made by the pinned key named id. The error wraps
// ErrUnknownKey or ErrBadSignature.
func (r Keyring) Verify(id string, msg, sig []byte) error {
	k, ok := r.Find(id)
	if !ok {
		return fmt.Errorf("key %q: %w", id, ErrUnknownKey)
	}
	return k.Verify(msg, sig)
}

// IDs lists the keys' IDs, for a log line or a refusal that says what is pinned.
func (r Keyring) IDs() []string {
	ids := make([]string, len(r))
	for i, k := range r {
		ids[i] = k.ID()
	}
	return ids
}

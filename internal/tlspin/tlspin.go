// Package tlspin pins a TLS peer by the SHA-256 hash of its certificate's public key
// (SubjectPublicKeyInfo, as HPKP and `openssl x509 -pubkey | openssl pkey -pubin -outform
// der | openssl dgst -sha256` compute it). A pinned connection is accepted only when a
// certificate of a verified chain carries one of the pinned keys; the check runs on every
// handshake, resumed ones included.
package tlspin

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
)

// Pins are SPKI SHA-256 hashes. An empty set pins nothing.
type Pins [][sha256.Size]byte

// Parse reads pins written in base64 (44 characters, as HPKP and curl's --pinnedpubkey
// "sha256//" print them; the prefix is accepted) or hex (64 digits, ':' allowed).
func Parse(list []string) (Pins, error) {
	var ps Pins
	for i, s := range list {
		h, err := parseOne(s)
		if err != nil {
			return nil, fmt.Errorf("pin %d: %w", i, err)
		}
		ps = append(ps, h)
	}
	return ps, nil
}

func parseOne(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	s = strings.TrimPrefix(strings.TrimSpace(s), "sha256//")
	if b, err := hex.DecodeString(strings.ReplaceAll(s, ":", "")); err == nil && len(b) == sha256.Size {
		copy(h[:], b)
		return h, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == sha256.Size {
		copy(h[:], b)
		return h, nil
	}
	return h, fmt.Errorf("%q is not a SHA-256 hash in base64 (44 characters) or hex (64 digits)", s)
}

// Validate adds a problem at path for every pin that does not parse.
func Validate(path string, list []string, ps *config.Problems) {
	for i, s := range list {
		if _, err := parseOne(s); err != nil {
			ps.Add(config.Index(path, i), err)
		}
	}
}

// Of returns the pin of a certificate's public key.
func Of(c *x509.Certificate) [sha256.Size]byte { return sha256.Sum256(c.RawSubjectPublicKeyInfo) }

// String returns the base64 form of a pin.
func String(h [sha256.Size]byte) string { return base64.StdEncoding.EncodeToString(h[:]) }

// ErrMismatch is the handshake error when no certificate of the peer's verified chains
// carries a pinned key.
var ErrMismatch = errors.New("tls: the server's public key matches no pinned SPKI hash")

// Check accepts a connection whose verified chains hold a pinned key. Only verified
// chains count: a certificate the peer merely sends along proves nothing.
func (p Pins) Check(cs tls.ConnectionState) error {
	for _, chain := range cs.VerifiedChains {
		for _, c := range chain {
			h := Of(c)
			for _, want := range p {
				if h == want {
					return nil
				}
			}
		}
	}
	got := "no verified certificate"
	if len(cs.PeerCertificates) > 0 {
		got = "leaf " + String(Of(cs.PeerCertificates[0]))
	}
	return fmt.Errorf("%w (%s)", ErrMismatch, got)
}

// Apply makes c check the pins on every handshake, after the usual chain
// verification. With no pins c is left as it is.
func (p Pins) Apply(c *tls.Config) {
	if len(p) == 0 {
		return
	}
	prev := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		return p.Check(cs)
	}
}

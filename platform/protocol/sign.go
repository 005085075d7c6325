package protocol

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/emmansun/gmsm/sm2"
)

// DefaultSignerID is the SM2 user ID (GB/T 32918.2 ID_A) both sides use unless the
// platform assigns another: the 16 ASCII bytes "1234567812345678".
const DefaultSignerID = "1234567812345678"

// SignatureFormat is how the two SM2 signature integers are laid out.
type SignatureFormat string

// Signature formats.
const (
	// FormatDER is the ASN.1 DER SEQUENCE{r INTEGER, s INTEGER} of GB/T 35276, the form
	// OpenSSL reads and writes (70-72 bytes). The default.
	FormatDER SignatureFormat = "der"
	// FormatRaw is r||s, each a 32-byte big-endian integer (64 bytes), as some platforms
	// (for example NHSA) send it.
	FormatRaw SignatureFormat = "raw"
)

// Encoding is how binary values (signatures, SM4 ciphertexts) are written as text.
type Encoding string

// Encodings.
const (
	// Base64 is standard base64 with padding (RFC 4648 section 4). The default.
	Base64 Encoding = "base64"
	// Hex is lowercase hexadecimal; uppercase is accepted when reading.
	Hex Encoding = "hex"
)

// Encode writes b as text.
func (e Encoding) Encode(b []byte) string {
	if e == Hex {
		return hex.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Decode reads text written by Encode.
func (e Encoding) Decode(s string) ([]byte, error) {
	if e == Hex {
		return hex.DecodeString(s)
	}
	return base64.StdEncoding.DecodeString(s)
}

// Valid reports whether e is a known encoding.
func (e Encoding) Valid() bool { return e == Base64 || e == Hex }

// Valid reports whether f is a known signature format.
func (f SignatureFormat) Valid() bool { return f == FormatDER || f == FormatRaw }

// Scheme fixes how signatures are made and written. The zero value means the defaults:
// signer ID "1234567812345678", DER, base64.
type Scheme struct {
	SignerID string
	Format   SignatureFormat
	Encoding Encoding
}

func (s Scheme) uid() []byte {
	if s.SignerID == "" {
		return []byte(DefaultSignerID)
	}
	return []byte(s.SignerID)
}

func (s Scheme) encoding() Encoding {
	if s.Encoding == "" {
		return Base64
	}
	return s.Encoding
}

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// Sign signs msg (the canonical string's UTF-8 bytes) with k: SM3 over Z_A||msg, SM2.
func (s Scheme) Sign(k *PrivateKey, msg []byte) (string, error) {
	der, err := k.k.Sign(rand.Reader, msg, sm2.NewSM2SignerOption(true, s.uid()))
	if err != nil {
		return "", fmt.Errorf("sm2 sign: %w", err)
	}
	if s.Format == FormatRaw {
		r, ss, err := parseDER(der)
		if err != nil {
			return "", err
		}
		raw := make([]byte, 64)
		r.FillBytes(raw[:32])
		ss.FillBytes(raw[32:])
		der = raw
	}
	return s.encoding().Encode(der), nil
}

// Verify checks sig over msg with p. Every failure (bad text, bad layout, wrong key,
// altered message) wraps ErrBadSignature.
func (s Scheme) Verify(p *PublicKey, msg []byte, sig string) error {
	b, err := s.encoding().Decode(sig)
	if err != nil {
		return fmt.Errorf("%w: not %s: %v", ErrBadSignature, s.encoding(), err)
	}
	var r, ss *big.Int
	if s.Format == FormatRaw {
		if len(b) != 64 {
			return fmt.Errorf("%w: raw signature is %d bytes, want 64", ErrBadSignature, len(b))
		}
		r, ss = new(big.Int).SetBytes(b[:32]), new(big.Int).SetBytes(b[32:])
	} else if r, ss, err = parseDER(b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !sm2.VerifyWithSM2(p.k, s.uid(), msg, r, ss) {
		return ErrBadSignature
	}
	return nil
}

// parseDER reads SEQUENCE{r, s} strictly (no trailing bytes, positive integers).
func parseDER(b []byte) (r, s *big.Int, err error) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return nil, nil, fmt.Errorf("signature DER: %w", err)
	}
	if len(rest) > 0 {
		return nil, nil, errors.New("signature DER: trailing bytes")
	}
	if v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 256 || v.S.BitLen() > 256 {
		return nil, nil, errors.New("signature DER: integer out of range")
	}
	return v.R, v.S, nil
}

// SignatureField is the envelope field that carries the signature and is left out of
// the canonical string.
const SignatureField = "signature"

// Canonical returns the string that is signed for an envelope: every field except
// "signature" whose value is not empty, sorted by key (byte order), written key=value
// and joined with "&". Values are used verbatim: no escaping, no trimming.
func Canonical(fields map[string]string) string {
	keys := make([]string, 0, len(fields))
	n := 0
	for k, v := range fields {
		if k == SignatureField || v == "" {
			continue
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(n)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(fields[k])
	}
	return b.String()
}

// SignRequest signs r's canonical string with k and sets r.Signature.
func (s Scheme) SignRequest(k *PrivateKey, r *Request) error {
	return s.signInto(k, r.Canonical, &r.Signature)
}

// SignResponse signs r's canonical string with k and sets r.Signature.
func (s Scheme) SignResponse(k *PrivateKey, r *Response) error {
	return s.signInto(k, r.Canonical, &r.Signature)
}

// signInto clears *sig (it is not part of the canonical string anyway), signs and sets it.
func (s Scheme) signInto(k *PrivateKey, canonical func() string, sig *string) error {
	*sig = ""
	v, err := s.Sign(k, []byte(canonical()))
	if err != nil {
		return err
	}
	*sig = v
	return nil
}

// VerifyFields checks the "signature" of a received envelope, given as the map of every
// field received (ParseRequest, ParseResponse), against the canonical string of the
// others.
func (s Scheme) VerifyFields(p *PublicKey, fields map[string]string) error {
	sig := fields[SignatureField]
	if sig == "" {
		return fmt.Errorf("%w: no signature", ErrBadSignature)
	}
	return s.Verify(p, []byte(Canonical(fields)), sig)
}

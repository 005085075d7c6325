package protocol

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	smcipher "github.com/emmansun/gmsm/cipher"
	"github.com/emmansun/gmsm/padding"
	"github.com/emmansun/gmsm/sm4"
)

// SM4Mode is the block cipher mode used for sensitive values.
type SM4Mode string

// SM4 modes. Each encrypts one UTF-8 value into bytes that are then written with the
// scheme's Encoding.
const (
	// SM4CBC: PKCS#7 padding, a fresh random 16-byte IV written in front of the
	// ciphertext (IV || C). The default.
	SM4CBC SM4Mode = "cbc"
	// SM4ECB: PKCS#7 padding, no IV. Equal values give equal ciphertexts; only for
	// platforms that require it.
	SM4ECB SM4Mode = "ecb"
	// SM4GCM: a fresh random 12-byte nonce in front, then the ciphertext and the 16-byte
	// tag (nonce || C || T), no additional data.
	SM4GCM SM4Mode = "gcm"
)

// Valid reports whether m is a known mode.
func (m SM4Mode) Valid() bool { return m == SM4CBC || m == SM4ECB || m == SM4GCM }

// ErrDecrypt is returned when a value cannot be decrypted (wrong key, mode or encoding,
// altered ciphertext).
var ErrDecrypt = errors.New("sm4 decryption failed")

// FieldCipher encrypts and decrypts single sensitive values (ID number, name, bank
// account, QR payload) with the channel's SM4 key. It is safe for concurrent use.
type FieldCipher struct {
	block cipher.Block
	aead  cipher.AEAD // GCM only
	mode  SM4Mode
	enc   Encoding
	pad   padding.Padding
}

// NewFieldCipher returns a cipher for a 16-byte key. Empty mode and encoding mean CBC
// and base64.
func NewFieldCipher(key []byte, mode SM4Mode, enc Encoding) (*FieldCipher, error) {
	if mode == "" {
		mode = SM4CBC
	}
	if enc == "" {
		enc = Base64
	}
	if !mode.Valid() {
		return nil, fmt.Errorf("sm4: unknown mode %q", mode)
	}
	if !enc.Valid() {
		return nil, fmt.Errorf("sm4: unknown encoding %q", enc)
	}
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sm4: %w", err)
	}
	c := &FieldCipher{block: b, mode: mode, enc: enc, pad: padding.NewPKCS7Padding(sm4.BlockSize)}
	if mode == SM4GCM {
		if c.aead, err = cipher.NewGCM(b); err != nil {
			return nil, fmt.Errorf("sm4 gcm: %w", err)
		}
	}
	return c, nil
}

// Encrypt returns the encoded ciphertext of plain.
func (c *FieldCipher) Encrypt(plain string) (string, error) {
	var out []byte
	switch c.mode {
	case SM4GCM:
		nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return "", fmt.Errorf("sm4 nonce: %w", err)
		}
		out = c.aead.Seal(nonce, nonce, []byte(plain), nil)
	case SM4ECB:
		p := c.pad.Pad([]byte(plain))
		out = make([]byte, len(p))
		smcipher.NewECBEncrypter(c.block).CryptBlocks(out, p)
	default:
		p := c.pad.Pad([]byte(plain))
		out = make([]byte, sm4.BlockSize+len(p))
		if _, err := rand.Read(out[:sm4.BlockSize]); err != nil {
			return "", fmt.Errorf("sm4 iv: %w", err)
		}
		cipher.NewCBCEncrypter(c.block, out[:sm4.BlockSize]).CryptBlocks(out[sm4.BlockSize:], p)
	}
	return c.enc.Encode(out), nil
}

// Decrypt reverses Encrypt. Every failure wraps ErrDecrypt.
func (c *FieldCipher) Decrypt(text string) (string, error) {
	b, err := c.enc.Decode(text)
	if err != nil {
		return "", fmt.Errorf("%w: not %s", ErrDecrypt, c.enc)
	}
	var plain []byte
	switch c.mode {
	case SM4GCM:
		n := c.aead.NonceSize()
		if len(b) < n+c.aead.Overhead() {
			return "", fmt.Errorf("%w: too short", ErrDecrypt)
		}
		if plain, err = c.aead.Open(nil, b[:n], b[n:], nil); err != nil {
			return "", fmt.Errorf("%w: authentication failed", ErrDecrypt)
		}
		return string(plain), nil
	case SM4ECB:
		if len(b) == 0 || len(b)%sm4.BlockSize != 0 {
			return "", fmt.Errorf("%w: length %d is not a multiple of 16", ErrDecrypt, len(b))
		}
		plain = make([]byte, len(b))
		smcipher.NewECBDecrypter(c.block).CryptBlocks(plain, b)
	default:
		if len(b) < 2*sm4.BlockSize || len(b)%sm4.BlockSize != 0 {
			return "", fmt.Errorf("%w: length %d is not IV plus whole blocks", ErrDecrypt, len(b))
		}
		plain = make([]byte, len(b)-sm4.BlockSize)
		cipher.NewCBCDecrypter(c.block, b[:sm4.BlockSize]).CryptBlocks(plain, b[sm4.BlockSize:])
	}
	if plain, err = c.pad.Unpad(plain); err != nil {
		return "", fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	return string(plain), nil
}

// ParseSM4Key reads an SM4 key file: 32 hex digits, surrounding white space ignored.
func ParseSM4Key(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != sm4.BlockSize {
		return nil, fmt.Errorf("sm4 key: %w: want 32 hex digits", ErrKeyFormat)
	}
	return k, nil
}

// FormatSM4Key writes an SM4 key in the key file format (32 hex digits and a newline).
func FormatSM4Key(k []byte) []byte { return []byte(hex.EncodeToString(k) + "\n") }

// NewSM4Key returns a random 16-byte SM4 key.
func NewSM4Key() ([]byte, error) {
	k := make([]byte, sm4.BlockSize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sm4 key: %w", err)
	}
	return k, nil
}

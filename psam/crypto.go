package psam

import (
	gocipher "crypto/cipher"
	"crypto/des"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm4"

	"github.com/sscagent/sscagent/card"
)

// The algorithms below are what a PSAM (and the platform's HSM) computes; the agent
// never holds a card key. They are exported for the sandbox's virtual card, PSAM and
// HSM (card/cardsim), which must compute exactly what real ones do, and are checked
// against OpenSSL 3 in the tests. References: PSAM spec (part 9) 7.1-7.3, security
// spec (part 4) 8-9, domain.md §2.1-2.2.

// ErrAlgorithm: an algorithm this code cannot compute (SSF33 is only in hardware).
var ErrAlgorithm = errors.New("psam: algorithm not supported in software")

// Block returns the block cipher of alg for key: for DES an 8-byte key is single DES,
// 16 bytes 3DES with K1 K2 K1, 24 bytes 3DES with three keys; for SM4 a 16-byte key.
func Block(alg card.Algorithm, key []byte) (gocipher.Block, error) {
	switch alg {
	case card.AlgDES:
		switch len(key) {
		case 8:
			return des.NewCipher(key)
		case 16:
			k := make([]byte, 24)
			copy(k, key)
			copy(k[16:], key[:8])
			return des.NewTripleDESCipher(k)
		case 24:
			return des.NewTripleDESCipher(key)
		}
		return nil, fmt.Errorf("psam: DES key of %d bytes", len(key))
	case card.AlgSM4:
		if len(key) != 16 {
			return nil, fmt.Errorf("psam: SM4 key of %d bytes", len(key))
		}
		return sm4.NewCipher(key)
	}
	return nil, fmt.Errorf("%w: %s", ErrAlgorithm, alg.Name())
}

// EncryptECB encrypts data, a whole number of blocks, in ECB mode.
func EncryptECB(alg card.Algorithm, key, data []byte) ([]byte, error) {
	b, err := Block(alg, key)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	if len(data) == 0 || len(data)%bs != 0 {
		return nil, fmt.Errorf("psam: %d bytes is not a whole number of %d-byte blocks", len(data), bs)
	}
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += bs {
		b.Encrypt(out[i:i+bs], data[i:i+bs])
	}
	return out, nil
}

// Diversify derives a child key from a 16-byte parent key and an 8-byte factor (PSAM
// spec 7.1.1): for DES the double-length child is 3DES(factor) || 3DES(~factor); for SM4
// it is SM4(factor || ~factor).
func Diversify(alg card.Algorithm, parent []byte, factor [8]byte) ([]byte, error) {
	var inv [8]byte
	for i, c := range factor {
		inv[i] = ^c
	}
	switch alg {
	case card.AlgDES:
		if len(parent) != 16 {
			return nil, fmt.Errorf("psam: DES parent key of %d bytes, want 16", len(parent))
		}
		return EncryptECB(alg, parent, append(factor[:], inv[:]...))
	case card.AlgSM4:
		return EncryptECB(alg, parent, append(factor[:], inv[:]...))
	}
	return nil, fmt.Errorf("%w: %s", ErrAlgorithm, alg.Name())
}

// DeriveKey derives the card key from a root key and the factors in the order a
// DELIVERY SESSION KEY command carries them, lowest level first (card, city,
// province): the last factor is applied first.
func DeriveKey(alg card.Algorithm, root []byte, factors ...[8]byte) ([]byte, error) {
	k := root
	for i := len(factors) - 1; i >= 0; i-- {
		var err error
		if k, err = Diversify(alg, k, factors[i]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// SessionKey derives a session key from a card key and a session factor (security spec
// 9.3): for DES the factor (padded with 00 to 8 bytes) is encrypted with 3DES, giving
// an 8-byte single-DES key; for SM4 the factor padded with 00 to 16 bytes is encrypted,
// giving a 16-byte key.
func SessionKey(alg card.Algorithm, key, factor []byte) ([]byte, error) {
	bs := alg.BlockSize()
	if len(factor) > bs {
		return nil, fmt.Errorf("psam: session factor of %d bytes, at most %d", len(factor), bs)
	}
	in := make([]byte, bs)
	copy(in, factor)
	return EncryptECB(alg, key, in)
}

// AuthData computes 8-byte authentication data from a session key and 8 bytes of
// original data: for DES the DES encryption of the data; for SM4 the encryption of
// data || 00*8, whose left and right halves are XORed (the 16-byte-block rule).
func AuthData(alg card.Algorithm, session []byte, data [8]byte) ([8]byte, error) {
	var out [8]byte
	in := make([]byte, alg.BlockSize())
	copy(in, data[:])
	c, err := EncryptECB(alg, session, in)
	if err != nil {
		return out, err
	}
	FoldHalves(&out, c)
	return out, nil
}

// FoldHalves writes the 8-byte authentication data of a cipher block: the block itself
// for 8 bytes, left half XOR right half for 16 (SSF33, SM4).
func FoldHalves(out *[8]byte, block []byte) {
	copy(out[:], block)
	if len(block) == 16 {
		for i := range 8 {
			out[i] ^= block[8+i]
		}
	}
}

// Authenticate computes what a card with the given card key answers to a challenge:
// AuthData(SessionKey(key, factor), data).
func Authenticate(alg card.Algorithm, cardKey []byte, c card.Challenge) ([8]byte, error) {
	sk, err := SessionKey(alg, cardKey, c.Factor[:])
	if err != nil {
		return [8]byte{}, err
	}
	return AuthData(alg, sk, c.Data)
}

// ProvinceFactor is the level-1 factor: the ASCII of the first two digits of the city
// code and "0000sh".
func ProvinceFactor(region string) [8]byte {
	var f [8]byte
	copy(f[:], region[:2]+"0000sh")
	return f
}

// CityFactor is the level-2 factor: the ASCII of the six digits of the city code and
// "sx" (650100 -> "650100sx"). Zhejiang (33xxxx) uses four digits and "00sx".
func CityFactor(region string) [8]byte {
	var f [8]byte
	if region[:2] == "33" {
		copy(f[:], region[:4]+"00sx")
	} else {
		copy(f[:], region[:6]+"sx")
	}
	return f
}

// CardFactor is the level-3 factor: historical bytes T6..TD of the card's ATR (the last
// 8 of its 13).
func CardFactor(hist []byte) ([8]byte, error) {
	var f [8]byte
	if len(hist) < 13 {
		return f, fmt.Errorf("psam: %d historical bytes, the card factor needs 13", len(hist))
	}
	copy(f[:], hist[5:13])
	return f, nil
}

// Factors returns the diversification factors of a card, lowest level first (card,
// city, province), trimmed to levels (1-3): the PSAM holding a level-n root takes the
// n lowest factors.
func Factors(region string, hist []byte, levels int) ([][8]byte, error) {
	if len(region) != 6 || !isDigits(region) {
		return nil, fmt.Errorf("psam: region %q is not 6 digits", region)
	}
	if levels < 1 || levels > 3 {
		return nil, fmt.Errorf("psam: %d diversification levels, want 1-3", levels)
	}
	cf, err := CardFactor(hist)
	if err != nil {
		return nil, err
	}
	all := [][8]byte{cf, CityFactor(region), ProvinceFactor(region)}
	return all[:levels], nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

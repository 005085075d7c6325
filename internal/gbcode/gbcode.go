// Package gbcode checks the national identifier codes the standard refers to: the
// citizen ID number of GB 11643 (社会保障号码 is the ID number), the unified social
// credit code of GB 32100 (统一社会信用代码) and the administrative division codes of
// GB/T 2260 (行政区划代码). Only formats and check digits are verified; whether a
// code was ever issued is the platform's business.
package gbcode

import (
	"errors"
	"fmt"
)

// Errors returned by the checks. They describe the rule that failed in words fit
// for a config or validation message.
var (
	ErrLength     = errors.New("wrong length")
	ErrCharacter  = errors.New("invalid character")
	ErrCheckDigit = errors.New("check digit mismatch")
)

// IDNumber checks an 18-character citizen ID number (GB 11643-1999): 17 digits and a
// check character (0-9 or X) computed with ISO 7064 MOD 11-2. A lowercase x is accepted.
func IDNumber(s string) error {
	if len(s) != 18 {
		return fmt.Errorf("%w: want 18 characters, got %d", ErrLength, len(s))
	}
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return fmt.Errorf("%w at position %d", ErrCharacter, i+1)
		}
		sum += int(c-'0') * weights[i]
	}
	want := "10X98765432"[sum%11]
	got := s[17]
	if got == 'x' {
		got = 'X'
	}
	if (got < '0' || got > '9') && got != 'X' {
		return fmt.Errorf("%w at position 18", ErrCharacter)
	}
	if got != want {
		return ErrCheckDigit
	}
	return nil
}

// creditAlphabet is the GB 32100 code alphabet: digits and capital letters without
// I, O, Z, S and V. A character's index is its value.
const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// CreditCode checks an 18-character unified social credit code (GB 32100-2015): the
// registration authority and type, 6-digit region code, 9-character organisation code
// and a check character over the first 17 with weights 3^i mod 31.
func CreditCode(s string) error {
	if len(s) != 18 {
		return fmt.Errorf("%w: want 18 characters, got %d", ErrLength, len(s))
	}
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i := 0; i < 17; i++ {
		v := indexByte(creditAlphabet, s[i])
		if v < 0 {
			return fmt.Errorf("%w %q at position %d", ErrCharacter, s[i], i+1)
		}
		sum += v * weights[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	if indexByte(creditAlphabet, s[17]) < 0 {
		return fmt.Errorf("%w %q at position 18", ErrCharacter, s[17])
	}
	if s[17] != creditAlphabet[c] {
		return ErrCheckDigit
	}
	return nil
}

// RegionCode checks the form of a 6-digit GB/T 2260 administrative division code: six
// digits whose province part (first two) is in the range the standard assigns (11-82).
func RegionCode(s string) error {
	if len(s) != 6 {
		return fmt.Errorf("%w: want 6 digits, got %d characters", ErrLength, len(s))
	}
	for i := 0; i < 6; i++ {
		if s[i] < '0' || s[i] > '9' {
			return fmt.Errorf("%w at position %d", ErrCharacter, i+1)
		}
	}
	if p := int(s[0]-'0')*10 + int(s[1]-'0'); p < 11 || p > 82 {
		return fmt.Errorf("province part %02d is not a GB/T 2260 province", p)
	}
	return nil
}

func indexByte(alphabet string, c byte) int {
	for i := 0; i < len(alphabet); i++ {
		if alphabet[i] == c {
			return i
		}
	}
	return -1
}

package apdu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ATR is a parsed answer to reset (ISO/IEC 7816-3 8.2).
type ATR struct {
	// Raw is the whole ATR as received.
	Raw []byte
	// Protocols are the protocols the card offers (T values from TD bytes; T=0 when
	// none is indicated).
	Protocols []int
	// Historical are the historical bytes T1..TK. On a social security card there are
	// 13 (card spec part 2, 8.4): T1-T2 chip supplier, T3-T5 COS, T6-T7 card maker,
	// T8-T9 the first four digits of the issuing region, TA-TD the card serial.
	Historical []byte
	// TCKPresent and TCKValid report the check byte (present whenever a protocol other
	// than T=0 is indicated).
	TCKPresent, TCKValid bool
}

// ErrMalformedATR is wrapped by every ATR parsing error.
var ErrMalformedATR = errors.New("malformed ATR")

// ParseATR parses an answer to reset. It fails for a wrong initial character or an ATR
// shorter than its format byte and interface bytes announce; bytes after the check
// byte are ignored, and a wrong check byte is reported in TCKValid, not as an error
// (the reader already accepted the ATR).
func ParseATR(b []byte) (ATR, error) {
	a := ATR{Raw: b}
	if len(b) < 2 {
		return a, fmt.Errorf("apdu: %w: %d bytes", ErrMalformedATR, len(b))
	}
	if b[0] != 0x3B && b[0] != 0x3F {
		return a, fmt.Errorf("apdu: %w: initial character %02X is neither 3B nor 3F", ErrMalformedATR, b[0])
	}
	k := int(b[1] & 0x0F)
	y := b[1] >> 4
	i := 2
	needTCK := false
	for level := 1; ; level++ {
		for bit := byte(1); bit <= 4; bit <<= 1 { // TA, TB, TC
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 {
			break
		}
		if i >= len(b) {
			return a, fmt.Errorf("apdu: %w: truncated interface bytes", ErrMalformedATR)
		}
		td := b[i]
		i++
		t := int(td & 0x0F)
		if t != 0 {
			needTCK = true
		}
		if len(a.Protocols) == 0 || a.Protocols[len(a.Protocols)-1] != t {
			a.Protocols = append(a.Protocols, t)
		}
		y = td >> 4
		if level > 32 {
			return a, fmt.Errorf("apdu: %w: too many interface byte groups", ErrMalformedATR)
		}
	}
	if len(a.Protocols) == 0 {
		a.Protocols = []int{0}
	}
	if i+k > len(b) {
		return a, fmt.Errorf("apdu: %w: %d historical bytes announced, %d present", ErrMalformedATR, k, max(0, len(b)-i))
	}
	a.Historical = b[i : i+k : i+k]
	i += k
	if needTCK && i < len(b) {
		a.TCKPresent = true
		var x byte
		for _, c := range b[1 : i+1] {
			x ^= c
		}
		a.TCKValid = x == 0
	}
	return a, nil
}

// HexUpper formats bytes as upper-case hex, the form the national interface strings
// use ("00814E43238697159900BF7C7A").
func HexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

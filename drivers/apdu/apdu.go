// Package apdu encodes and decodes ISO/IEC 7816-4 application protocol data units:
// command APDUs (short and extended length), response APDUs, status words as typed
// errors, the T=0 response rules (61xx GET RESPONSE, 6Cxx re-issue with the right Le),
// SIMPLE-TLV and BER-TLV data objects (the social security card's records and FCI) and
// the ISO/IEC 7816-3 answer to reset.
//
// Channel wraps a raw transmitter (a drivers.Card) and does the T=0 work and the
// counting, so the card and PSAM code above it sees one call per logical command and can
// still report how many exchanges a read took.
//
// Every parser here takes bytes from a card, which may be broken or hostile: it returns
// an error for anything malformed and never panics or allocates more than the input
// implies (each parser has a fuzz test).
package apdu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MaxShort and MaxExtended are the largest Nc/Ne of short and extended APDUs.
const (
	MaxShort    = 256
	MaxExtended = 65536
)

// Command is a command APDU.
type Command struct {
	CLA, INS, P1, P2 byte
	// Data is the command data field (Nc = len(Data)); nil for none.
	Data []byte
	// Ne is the maximum number of response data bytes expected: 0 for no Le field,
	// 1-256 for a short Le (256 is written 00), up to 65536 with extended length.
	Ne int
}

// Extended reports whether the command needs extended length fields.
func (c Command) Extended() bool { return len(c.Data) > 255 || c.Ne > MaxShort }

// Bytes encodes the command (ISO/IEC 7816-4 5.1), choosing extended length fields only
// when Nc or Ne need them.
func (c Command) Bytes() ([]byte, error) {
	if len(c.Data) > MaxExtended-1 || c.Ne < 0 || c.Ne > MaxExtended {
		return nil, fmt.Errorf("apdu: command %s: Nc %d or Ne %d out of range", c.Name(), len(c.Data), c.Ne)
	}
	b := make([]byte, 0, 4+3+len(c.Data)+3)
	b = append(b, c.CLA, c.INS, c.P1, c.P2)
	ext := c.Extended()
	if len(c.Data) > 0 {
		if ext {
			b = append(b, 0, byte(len(c.Data)>>8), byte(len(c.Data)))
		} else {
			b = append(b, byte(len(c.Data)))
		}
		b = append(b, c.Data...)
	}
	if c.Ne > 0 {
		switch {
		case !ext:
			b = append(b, byte(c.Ne)) // 256 -> 00
		case len(c.Data) > 0:
			b = append(b, byte(c.Ne>>8), byte(c.Ne)) // 65536 -> 0000
		default:
			b = append(b, 0, byte(c.Ne>>8), byte(c.Ne))
		}
	}
	return b, nil
}

// String shows the command in hex as a terminal trace does: "00A404000F7378...".
func (c Command) String() string {
	b, err := c.Bytes()
	if err != nil {
		return c.Name() + "(invalid)"
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// Name is the command's name from its class and instruction ("SELECT", "READ RECORD",
// "DELIVERY SESSION KEY"), or "INS xx" for an instruction not known here.
func (c Command) Name() string {
	if c.CLA == 0xBF {
		switch c.INS {
		case 0xDE:
			return "DELIVERY SESSION KEY"
		case 0xEC:
			return "INITIALIZE ENVIRONMENT"
		}
	}
	if n, ok := insNames[c.INS]; ok {
		return n
	}
	return fmt.Sprintf("INS %02X", c.INS)
}

var insNames = map[byte]string{
	0xA4: "SELECT", 0xB0: "READ BINARY", 0xB2: "READ RECORD", 0x84: "GET CHALLENGE",
	0x88: "INTERNAL AUTHENTICATE", 0x82: "EXTERNAL AUTHENTICATE", 0xC0: "GET RESPONSE",
	0x20: "VERIFY", 0xDC: "UPDATE RECORD", 0xD6: "UPDATE BINARY", 0xFA: "CIPHER DATA",
	0x70: "INIT SAM FOR PURCHASE", 0x72: "CREDIT SAM FOR PURCHASE", 0xCA: "GET DATA",
}

// ParseCommand decodes a command APDU (the card side: emulators and tests). It accepts
// the four cases in short and extended form.
func ParseCommand(b []byte) (Command, error) {
	if len(b) < 4 {
		return Command{}, fmt.Errorf("apdu: command of %d bytes is shorter than a header", len(b))
	}
	c := Command{CLA: b[0], INS: b[1], P1: b[2], P2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
		return c, nil
	case len(body) == 1: // case 2S
		c.Ne = int(body[0])
		if c.Ne == 0 {
			c.Ne = MaxShort
		}
		return c, nil
	case body[0] != 0: // case 3S or 4S
		nc := int(body[0])
		switch len(body) {
		case 1 + nc:
		case 2 + nc:
			c.Ne = int(body[1+nc])
			if c.Ne == 0 {
				c.Ne = MaxShort
			}
		default:
			return Command{}, fmt.Errorf("apdu: command body of %d bytes does not match Lc %d", len(body), nc)
		}
		c.Data = body[1 : 1+nc]
		return c, nil
	}
	// Extended: body[0] == 0.
	if len(body) == 3 { // case 2E
		c.Ne = int(body[1])<<8 | int(body[2])
		if c.Ne == 0 {
			c.Ne = MaxExtended
		}
		return c, nil
	}
	if len(body) < 3 {
		return Command{}, errors.New("apdu: truncated extended length")
	}
	nc := int(body[1])<<8 | int(body[2])
	if nc == 0 {
		return Command{}, errors.New("apdu: extended Lc of zero")
	}
	switch len(body) {
	case 3 + nc:
	case 5 + nc:
		c.Ne = int(body[3+nc])<<8 | int(body[4+nc])
		if c.Ne == 0 {
			c.Ne = MaxExtended
		}
	default:
		return Command{}, fmt.Errorf("apdu: extended command body of %d bytes does not match Lc %d", len(body), nc)
	}
	c.Data = body[3 : 3+nc]
	return c, nil
}

// Response is a response APDU.
type Response struct {
	Data []byte
	SW   SW
}

// ParseResponse splits a response APDU into data and status word.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("apdu: response of %d bytes has no status word", len(b))
	}
	n := len(b) - 2
	return Response{Data: b[:n:n], SW: SW(uint16(b[n])<<8 | uint16(b[n+1]))}, nil
}

// Bytes encodes the response (data followed by SW1 SW2).
func (r Response) Bytes() []byte {
	b := make([]byte, 0, len(r.Data)+2)
	b = append(b, r.Data...)
	return append(b, byte(r.SW>>8), byte(r.SW))
}

// OK reports whether the status word is 9000.
func (r Response) OK() bool { return r.SW == SWOK }

// Err returns nil for 9000 and a *StatusError naming cmd otherwise.
func (r Response) Err(cmd Command) error {
	if r.SW == SWOK {
		return nil
	}
	return &StatusError{SW: r.SW, Command: cmd.Name()}
}

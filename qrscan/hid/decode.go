package hid

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// Event is one evdev input_event without its timestamp.
type Event struct {
	Type  uint16
	Code  uint16
	Value int32
}

// Event types and key values used here (linux/input-event-codes.h).
const (
	EvSyn = 0x00
	EvKey = 0x01

	KeyRelease = 0
	KeyPress   = 1
	KeyRepeat  = 2
)

// EventSize is the size of struct input_event on this platform: a timestamp of two C
// longs, then type (u16), code (u16) and value (s32). 24 bytes on 64-bit Linux.
const EventSize = 2*longSize + 8

// longSize is the size of a C long (and of a sysfs bitmap word).
const longSize = int(unsafe.Sizeof(uintptr(0)))

// ParseEvents calls fn for each whole input_event in b (native byte order) and returns
// the number of bytes consumed; a trailing partial event is left for the next read.
func ParseEvents(b []byte, fn func(Event)) int {
	n := 0
	for len(b)-n >= EventSize {
		e := b[n+EventSize-8 : n+EventSize]
		fn(Event{
			Type:  binary.NativeEndian.Uint16(e[0:2]),
			Code:  binary.NativeEndian.Uint16(e[2:4]),
			Value: int32(binary.NativeEndian.Uint32(e[4:8])),
		})
		n += EventSize
	}
	return n
}

// AppendEvent appends e as an input_event with a zero timestamp (for tests and the
// simulator).
func AppendEvent(b []byte, e Event) []byte {
	b = append(b, make([]byte, EventSize-8)...)
	b = binary.NativeEndian.AppendUint16(b, e.Type)
	b = binary.NativeEndian.AppendUint16(b, e.Code)
	return binary.NativeEndian.AppendUint32(b, uint32(e.Value))
}

// Key codes with a meaning beyond "type a character" (linux/input-event-codes.h).
const (
	keyEsc        = 1
	keyBackspace  = 14
	keyTab        = 15
	keyEnter      = 28
	keyLeftCtrl   = 29
	keyLeftShift  = 42
	keyRightShift = 54
	keyLeftAlt    = 56
	keyCapsLock   = 58
	keyNumLock    = 69
	keyScrollLock = 70
	keyKPEnter    = 96
	keyRightCtrl  = 97
	keyRightAlt   = 100
	keyDelete     = 111
	keyLeftMeta   = 125
	keyRightMeta  = 126
)

// keys maps a key code to its character without and with shift (US layout).
var keys = map[uint16][2]byte{
	2: {'1', '!'}, 3: {'2', '@'}, 4: {'3', '#'}, 5: {'4', '$'}, 6: {'5', '%'},
	7: {'6', '^'}, 8: {'7', '&'}, 9: {'8', '*'}, 10: {'9', '('}, 11: {'0', ')'},
	12: {'-', '_'}, 13: {'=', '+'},
	16: {'q', 'Q'}, 17: {'w', 'W'}, 18: {'e', 'E'}, 19: {'r', 'R'}, 20: {'t', 'T'},
	21: {'y', 'Y'}, 22: {'u', 'U'}, 23: {'i', 'I'}, 24: {'o', 'O'}, 25: {'p', 'P'},
	26: {'[', '{'}, 27: {']', '}'},
	30: {'a', 'A'}, 31: {'s', 'S'}, 32: {'d', 'D'}, 33: {'f', 'F'}, 34: {'g', 'G'},
	35: {'h', 'H'}, 36: {'j', 'J'}, 37: {'k', 'K'}, 38: {'l', 'L'},
	39: {';', ':'}, 40: {'\'', '"'}, 41: {'`', '~'}, 43: {'\\', '|'},
	44: {'z', 'Z'}, 45: {'x', 'X'}, 46: {'c', 'C'}, 47: {'v', 'V'}, 48: {'b', 'B'},
	49: {'n', 'N'}, 50: {'m', 'M'},
	51: {',', '<'}, 52: {'.', '>'}, 53: {'/', '?'}, 57: {' ', ' '},
	// Keypad: the same character with or without shift; scanners assume num lock on.
	55: {'*', '*'}, 74: {'-', '-'}, 78: {'+', '+'}, 83: {'.', '.'}, 98: {'/', '/'},
	117: {'=', '='}, 121: {',', ','},
}

// keypadDigits maps keypad keys to their digit, for digits and Alt codes.
var keypadDigits = map[uint16]byte{
	82: 0, 79: 1, 80: 2, 81: 3, 75: 4, 76: 5, 77: 6, 71: 7, 72: 8, 73: 9,
}

// controls maps keys that type a control character.
var controls = map[uint16]byte{
	keyEnter: '\r', keyKPEnter: '\r', keyTab: '\t', keyBackspace: 0x08, keyEsc: 0x1b,
	keyDelete: 0x7f,
}

// Decoder turns key events into text. The zero value is ready; one device owns one.
type Decoder struct {
	lshift, rshift bool
	lctrl, rctrl   bool
	lalt, ralt     bool
	caps           bool
	altCode        int // decimal code typed on the keypad while Alt is held
	altDigits      int
	// Unmapped counts key presses the layout does not know (each became a NUL).
	Unmapped uint64
}

// Decode appends the text produced by e to dst.
func (d *Decoder) Decode(e Event, dst []byte) []byte {
	if e.Type != EvKey || e.Value == KeyRepeat {
		return dst
	}
	down := e.Value != KeyRelease
	switch e.Code {
	case keyLeftShift:
		d.lshift = down
		return dst
	case keyRightShift:
		d.rshift = down
		return dst
	case keyLeftCtrl:
		d.lctrl = down
		return dst
	case keyRightCtrl:
		d.rctrl = down
		return dst
	case keyLeftAlt, keyRightAlt:
		if e.Code == keyLeftAlt {
			d.lalt = down
		} else {
			d.ralt = down
		}
		if !d.lalt && !d.ralt && d.altDigits > 0 {
			dst = appendAltCode(dst, d.altCode)
			d.altCode, d.altDigits = 0, 0
		}
		return dst
	case keyCapsLock:
		if down {
			d.caps = !d.caps
		}
		return dst
	case keyNumLock, keyScrollLock, keyLeftMeta, keyRightMeta:
		return dst
	}
	if !down {
		return dst
	}
	if digit, ok := keypadDigits[e.Code]; ok {
		if d.lalt || d.ralt {
			if d.altDigits < 7 { // U+10FFFF has 7 digits; more is nonsense
				d.altCode = d.altCode*10 + int(digit)
			}
			d.altDigits++
			return dst
		}
		return append(dst, '0'+digit)
	}
	if d.lalt || d.ralt {
		return d.unmapped(dst) // Alt with anything but keypad digits types no text
	}
	if c, ok := controls[e.Code]; ok {
		return append(dst, c)
	}
	pair, ok := keys[e.Code]
	if !ok {
		return d.unmapped(dst)
	}
	shift := d.lshift || d.rshift
	letter := pair[0] >= 'a' && pair[0] <= 'z'
	c := pair[0]
	if shift != (letter && d.caps) {
		c = pair[1]
	}
	if d.lctrl || d.rctrl {
		return append(dst, ctrlChar(c))
	}
	return append(dst, c)
}

func (d *Decoder) unmapped(dst []byte) []byte {
	d.Unmapped++
	return append(dst, 0)
}

// ctrlChar is the control character Ctrl+c types: Ctrl+A = 0x01 ... Ctrl+] = 0x1D (GS,
// the GS1 separator); other keys give NUL.
func ctrlChar(c byte) byte {
	switch {
	case c >= 'a' && c <= 'z':
		return c - 'a' + 1
	case c >= '@' && c <= '_':
		return c - '@'
	}
	return 0
}

// appendAltCode appends the character of an Alt+keypad decimal code, read as a Unicode
// code point (codes below 256 are therefore Latin-1); an impossible code gives NUL.
func appendAltCode(dst []byte, code int) []byte {
	if code <= 0 || code > utf8.MaxRune || (code >= 0xD800 && code <= 0xDFFF) {
		return append(dst, 0)
	}
	return utf8.AppendRune(dst, rune(code))
}

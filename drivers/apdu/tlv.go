package apdu

import (
	"errors"
	"fmt"
)

// TLV is one data object: a tag and its value. Value aliases the parsed input.
type TLV struct {
	Tag   uint32
	Value []byte
}

// ErrMalformedTLV is wrapped by every TLV parsing error.
var ErrMalformedTLV = errors.New("malformed TLV")

// ParseSimpleTLV parses a sequence of SIMPLE-TLV data objects (ISO/IEC 7816-4 5.2.1):
// one tag byte (01-FE), a length of one byte (00-FE) or FF followed by two bytes, and
// the value. The social security card's records are SIMPLE-TLV, the tag being the
// record identifier ("01 10 <卡识别码>"), and a READ RECORD "P1 to last" answer is their
// concatenation. Trailing padding (bytes 00 or FF to the end) is ignored.
func ParseSimpleTLV(b []byte) ([]TLV, error) {
	var out []TLV
	for i := 0; i < len(b); {
		tag := b[i]
		if tag == 0x00 || tag == 0xFF {
			if padding(b[i:]) {
				break
			}
			return nil, fmt.Errorf("apdu: %w: invalid SIMPLE-TLV tag %02X at offset %d", ErrMalformedTLV, tag, i)
		}
		if i+1 >= len(b) {
			return nil, fmt.Errorf("apdu: %w: tag %02X without length at offset %d", ErrMalformedTLV, tag, i)
		}
		n, hdr := int(b[i+1]), 2
		if b[i+1] == 0xFF {
			if i+4 > len(b) {
				return nil, fmt.Errorf("apdu: %w: truncated 3-byte length at offset %d", ErrMalformedTLV, i)
			}
			n, hdr = int(b[i+2])<<8|int(b[i+3]), 4
		}
		end := i + hdr + n
		if end > len(b) {
			return nil, fmt.Errorf("apdu: %w: tag %02X length %d overruns %d bytes at offset %d", ErrMalformedTLV, tag, n, len(b), i)
		}
		out = append(out, TLV{Tag: uint32(tag), Value: b[i+hdr : end : end]})
		i = end
	}
	return out, nil
}

// padding reports whether b is all 00 or all FF bytes.
func padding(b []byte) bool {
	for _, c := range b {
		if c != b[0] {
			return false
		}
	}
	return true
}

// maxBERDepth bounds nesting in FindBER, so a hostile FCI cannot recurse deeply.
const maxBERDepth = 8

// ParseBER parses a sequence of BER-TLV data objects (ISO/IEC 7816-4 5.2.2) at one
// level: tags of up to three bytes, definite lengths of up to three length bytes
// (81 xx, 82 xx xx, 83 xx xx xx). Bytes 00 and FF between objects are padding and are
// skipped, as the standard allows. Constructed values are not descended into; use
// FindBER or parse the Value again.
func ParseBER(b []byte) ([]TLV, error) {
	var out []TLV
	for i := 0; i < len(b); {
		if b[i] == 0x00 || b[i] == 0xFF {
			i++
			continue
		}
		start := i
		tag := uint32(b[i])
		i++
		if tag&0x1F == 0x1F { // multi-byte tag
			for k := 0; ; k++ {
				if i >= len(b) {
					return nil, fmt.Errorf("apdu: %w: truncated tag at offset %d", ErrMalformedTLV, start)
				}
				if k == 2 {
					return nil, fmt.Errorf("apdu: %w: tag longer than 3 bytes at offset %d", ErrMalformedTLV, start)
				}
				tag = tag<<8 | uint32(b[i])
				i++
				if b[i-1]&0x80 == 0 {
					break
				}
			}
		}
		if i >= len(b) {
			return nil, fmt.Errorf("apdu: %w: tag %X without length at offset %d", ErrMalformedTLV, tag, start)
		}
		n := int(b[i])
		i++
		if n&0x80 != 0 {
			k := n & 0x7F
			if k == 0 || k > 3 {
				return nil, fmt.Errorf("apdu: %w: unsupported length form %02X at offset %d", ErrMalformedTLV, byte(0x80|k), start)
			}
			if i+k > len(b) {
				return nil, fmt.Errorf("apdu: %w: truncated length at offset %d", ErrMalformedTLV, start)
			}
			n = 0
			for _, c := range b[i : i+k] {
				n = n<<8 | int(c)
			}
			i += k
		}
		if n > len(b)-i {
			return nil, fmt.Errorf("apdu: %w: tag %X length %d overruns the data at offset %d", ErrMalformedTLV, tag, n, start)
		}
		out = append(out, TLV{Tag: tag, Value: b[i : i+n : i+n]})
		i += n
	}
	return out, nil
}

// Constructed reports whether the tag's first byte marks a constructed object.
func (t TLV) Constructed() bool {
	first := t.Tag
	for first > 0xFF {
		first >>= 8
	}
	return first&0x20 != 0
}

// FindBER follows path through nested BER-TLV objects in b and returns the value of the
// last tag: FindBER(fci, 0x6F, 0xA5, 0x9F0C) is the issuer data of an FCI. It reports
// false when a tag is missing and an error when the data is malformed on the way.
func FindBER(b []byte, path ...uint32) ([]byte, bool, error) {
	if len(path) == 0 || len(path) > maxBERDepth {
		return nil, false, fmt.Errorf("apdu: FindBER path of %d tags", len(path))
	}
	cur := b
	for _, tag := range path {
		tlvs, err := ParseBER(cur)
		if err != nil {
			return nil, false, err
		}
		found := false
		for _, t := range tlvs {
			if t.Tag == tag {
				cur, found = t.Value, true
				break
			}
		}
		if !found {
			return nil, false, nil
		}
	}
	return cur, true, nil
}

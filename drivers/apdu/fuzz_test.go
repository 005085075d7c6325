package apdu

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
)

func seedHex(f *testing.F, ss ...string) {
	for _, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseCommand: a command that parses encodes back to the same bytes.
func FuzzParseCommand(f *testing.F) {
	seedHex(f, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00B2012D40", "00B0000000012C", "0088000010000000000000000000000000000000000000", "00D60000000002AABB0000")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err != nil {
			return
		}
		out, err := c.Bytes()
		if err != nil {
			t.Fatalf("parsed %X but cannot encode: %v", b, err)
		}
		// Short Le 00 and a minimal extended form are the canonical encodings; a
		// parsed command re-encodes to a command that parses to the same thing.
		back, err := ParseCommand(out)
		if err != nil || back.Ne != c.Ne || !bytes.Equal(back.Data, c.Data) {
			t.Fatalf("%X -> %X -> %+v %v", b, out, back, err)
		}
	})
}

func FuzzParseSimpleTLV(f *testing.F) {
	seedHex(f, "0110511300D156000005A21472423DB8F248020133", "09FF0003AABBCC", "0102AA", "00000000", "01FF")
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := ParseSimpleTLV(b)
		if err != nil {
			return
		}
		n := 0
		for _, x := range tlvs {
			if x.Tag == 0 || x.Tag == 0xFF {
				t.Fatalf("invalid tag %X accepted", x.Tag)
			}
			n += len(x.Value) + 2
		}
		if n > len(b) {
			t.Fatalf("values (%d bytes with headers) longer than input %d", n, len(b))
		}
	})
}

func FuzzParseBER(f *testing.F) {
	seedHex(f, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103", "9F0C8103010203", "5F2D02656E", "BF0C00", "9FFF01")
	f.Fuzz(func(t *testing.T, b []byte) {
		tlvs, err := ParseBER(b)
		if err != nil {
			return
		}
		for _, x := range tlvs {
			if len(x.Value) > len(b) {
				t.Fatal("value longer than input")
			}
		}
		_, _, _ = FindBER(b, 0x6F, 0xA5, 0x9F0C, 0x86)
	})
}

func FuzzParseATR(f *testing.F) {
	seedHex(f, "3B6D000000814A444686605199000001AC", "3B8F8001804F0CA0000003060300030000000068", "3BFF9500FFC00A1F438031E073F62113574A334861324147D6", "3F00")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseATR(b)
		if err != nil {
			return
		}
		if len(a.Historical) > 15 || len(a.Historical) > len(b) {
			t.Fatalf("historical bytes %d from %d", len(a.Historical), len(b))
		}
	})
}

// cardBytes answers every command with the fuzzed bytes, then 9000.
type cardBytes struct {
	r     []byte
	calls int
}

func (c *cardBytes) Transmit(context.Context, []byte) ([]byte, error) {
	c.calls++
	if c.calls > 3 {
		return []byte{0x90, 0x00}, nil
	}
	return c.r, nil
}

// FuzzChannel: whatever a card answers, the channel returns or errs, and stays bounded.
func FuzzChannel(f *testing.F) {
	seedHex(f, "6C10", "6100", "AABB6105", "9000", "6A82", "01")
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &cardBytes{r: b}
		ch := NewChannel(c, ChannelOptions{})
		_, _ = ch.Send(context.Background(), Command{INS: 0xB2, P1: 1, P2: 0x2D, Ne: 256})
		if ch.Exchanges() > maxGetResponse+4 {
			t.Fatalf("%d exchanges", ch.Exchanges())
		}
	})
}

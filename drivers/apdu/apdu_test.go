package apdu

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommandBytes(t *testing.T) {
	aid := unhex(t, "7378312E73682EC9E7BBE1B1A3D5CF")
	for _, c := range []struct {
		cmd  Command
		want string
	}{
		{Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: aid}, "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"},
		{Command{INS: 0xB2, P1: 0x01, P2: 0x2D, Ne: 0x40}, "00B2012D40"},
		{Command{INS: 0xB2, P1: 0x01, P2: 0x2D, Ne: 256}, "00B2012D00"},
		{Command{INS: 0x84, Ne: 8}, "0084000008"},
		{Command{INS: 0x88, Data: make([]byte, 16), Ne: 256}, "008800001000000000000000000000000000000000" + "00"},
		{Command{INS: 0x20}, "00200000"},
		{Command{INS: 0xB0, Ne: 65536}, "00B00000000000"},
		{Command{INS: 0xB0, Ne: 300}, "00B0000000012C"},
		{Command{INS: 0xD6, Data: make([]byte, 300), Ne: 0}, "00D6000000012C" + strings.Repeat("00", 300)},
		{Command{INS: 0xD6, Data: make([]byte, 300), Ne: 256}, "00D6000000012C" + strings.Repeat("00", 300) + "0100"},
	} {
		b, err := c.cmd.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ToUpper(hex.EncodeToString(b)); got != c.want {
			t.Errorf("%s: got %s, want %s", c.cmd.Name(), got, c.want)
		}
		back, err := ParseCommand(b)
		if err != nil {
			t.Fatalf("parse %X: %v", b, err)
		}
		if back.CLA != c.cmd.CLA || back.INS != c.cmd.INS || back.P1 != c.cmd.P1 || back.P2 != c.cmd.P2 ||
			!bytes.Equal(back.Data, c.cmd.Data) || back.Ne != c.cmd.Ne {
			t.Errorf("round trip of %X: %+v", b, back)
		}
	}
	if _, err := (Command{Ne: -1}).Bytes(); err == nil {
		t.Error("negative Ne accepted")
	}
	if _, err := (Command{Data: make([]byte, 65536)}).Bytes(); err == nil {
		t.Error("Nc 65536 accepted")
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, s := range []string{"", "00A404", "00A404000F01", "00A40400020102FFEE", "00B000000000", "00B00000000002AA", "00B0000000000000"} {
		if c, err := ParseCommand(unhex(t, s)); err == nil {
			t.Errorf("%s parsed as %+v", s, c)
		}
	}
}

func TestStatusWords(t *testing.T) {
	err := (Response{SW: 0x6A82}).Err(Command{INS: 0xA4})
	if !errors.Is(err, SWFileNotFound) || errors.Is(err, SWRecordNotFound) {
		t.Fatalf("errors.Is on %v", err)
	}
	if sw, ok := StatusOf(err); !ok || sw != 0x6A82 {
		t.Fatalf("StatusOf: %v %v", sw, ok)
	}
	if got := err.Error(); got != "apdu: SELECT: status 6A82 file not found" {
		t.Fatalf("message %q", got)
	}
	if n, ok := SW(0x63C2).Retries(); !ok || n != 2 {
		t.Fatalf("63C2 retries %d %v", n, ok)
	}
	if _, ok := SW(0x6A82).Retries(); ok {
		t.Fatal("6A82 has retries")
	}
	if (Command{CLA: 0xBF, INS: 0xDE}).Name() != "DELIVERY SESSION KEY" || (Command{INS: 0x99}).Name() != "INS 99" {
		t.Fatal("names")
	}
	if (Response{SW: SWOK}).Err(Command{}) != nil {
		t.Fatal("9000 is an error")
	}
}

// script is a Transmitter that answers from a list and records what it was sent.
type script struct {
	t    *testing.T
	want []string // expected command hex, in order
	resp []string // response hex, in order
	i    int
	err  error // returned once the script is exhausted
}

func (s *script) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	if s.i >= len(s.want) {
		if s.err != nil {
			return nil, s.err
		}
		s.t.Fatalf("unexpected command %X", cmd)
	}
	if got := strings.ToUpper(hex.EncodeToString(cmd)); got != s.want[s.i] {
		s.t.Fatalf("command %d: got %s, want %s", s.i, got, s.want[s.i])
	}
	r := unhex(s.t, s.resp[s.i])
	s.i++
	return r, nil
}

func TestChannelT0(t *testing.T) {
	ctx := context.Background()
	// 6Cxx: re-issue with the right Le; then a 61xx chain of two GET RESPONSEs, the
	// second answered 6C with its right length.
	s := &script{t: t,
		want: []string{"00B2012D00", "00B2012D40", "00C0000010", "00C0000008", "00C0000004"},
		resp: []string{"6C40", strings.Repeat("AA", 0x40) + "6110", strings.Repeat("BB", 16) + "6108", "6C04", "CCCCCCCC9000"},
	}
	ch := NewChannel(s, ChannelOptions{})
	data, err := ch.Do(ctx, Command{INS: 0xB2, P1: 1, P2: 0x2D, Ne: 256})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("AA", 0x40) + strings.Repeat("BB", 16) + "CCCCCCCC"
	if got := strings.ToUpper(hex.EncodeToString(data)); got != want {
		t.Fatalf("data %s", got)
	}
	if ch.Exchanges() != 5 {
		t.Fatalf("exchanges %d, want 5", ch.Exchanges())
	}
	// A status word comes back as a StatusError from Do and as a response from Send.
	s2 := &script{t: t, want: []string{"00A404000101", "00A404000101"}, resp: []string{"6A82", "6A82"}}
	ch2 := NewChannel(s2, ChannelOptions{})
	if _, err := ch2.Do(ctx, Command{INS: 0xA4, P1: 4, Data: []byte{1}}); !errors.Is(err, SWFileNotFound) {
		t.Fatalf("Do: %v", err)
	}
	if r, err := ch2.Send(ctx, Command{INS: 0xA4, P1: 4, Data: []byte{1}}); err != nil || r.SW != 0x6A82 {
		t.Fatalf("Send: %v %v", r, err)
	}
}

func TestChannelLimitsAndErrors(t *testing.T) {
	ctx := context.Background()
	// An endless 61xx chain is cut off.
	want, resp := []string{"0084000008"}, []string{"6101"}
	for range maxGetResponse {
		want, resp = append(want, "00C0000001"), append(resp, "AA6101")
	}
	ch := NewChannel(&script{t: t, want: want, resp: resp}, ChannelOptions{})
	if _, err := ch.Do(ctx, Command{INS: 0x84, Ne: 8}); err == nil || !strings.Contains(err.Error(), "GET RESPONSE rounds") {
		t.Fatalf("endless chain: %v", err)
	}
	// Transport errors keep their identity.
	gone := errors.New("card gone")
	ch = NewChannel(&script{t: t, err: gone}, ChannelOptions{})
	if _, err := ch.Do(ctx, Command{INS: 0x84, Ne: 8}); !errors.Is(err, gone) {
		t.Fatalf("transport error: %v", err)
	}
	// A one-byte answer is not a response.
	ch = NewChannel(&script{t: t, want: []string{"0084000008"}, resp: []string{"90"}}, ChannelOptions{})
	if _, err := ch.Do(ctx, Command{INS: 0x84, Ne: 8}); err == nil {
		t.Fatal("1-byte response accepted")
	}
	// Extended length needs an extended channel.
	if _, err := ch.Do(ctx, Command{INS: 0xB0, Ne: 1000}); !errors.Is(err, ErrExtendedUnsupported) {
		t.Fatalf("extended on a short channel: %v", err)
	}
	// A cancelled context stops before sending.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ch = NewChannel(&script{t: t}, ChannelOptions{})
	if _, err := ch.Do(cctx, Command{INS: 0x84, Ne: 8}); !errors.Is(err, context.Canceled) || ch.Exchanges() != 0 {
		t.Fatalf("cancelled: %v, %d exchanges", err, ch.Exchanges())
	}
}

// TestRealRecordDumps parses the EF05 answer of a real 2014 card (domain.md §1.3, S15).
func TestRealRecordDumps(t *testing.T) {
	ef05 := unhex(t, "0110511300D156000005A21472423DB8F248"+"020133"+"0304322E3000"+"040C9156000002511300511300DB"+
		"050420140601"+"060420240601"+"0709"+hex.EncodeToString([]byte("A21472424")))
	tlvs, err := ParseSimpleTLV(ef05)
	if err != nil {
		t.Fatal(err)
	}
	if len(tlvs) != 7 || tlvs[0].Tag != 1 || HexUpper(tlvs[0].Value) != "511300D156000005A21472423DB8F248" ||
		string(tlvs[6].Value) != "A21472424" || string(tlvs[2].Value) != "2.0\x00" {
		t.Fatalf("parsed %+v", tlvs)
	}
	// Long form length and trailing padding.
	long := append([]byte{0x09, 0xFF, 0x01, 0x00}, make([]byte, 256)...)
	long = append(long, 0xFF, 0xFF, 0xFF)
	tlvs, err = ParseSimpleTLV(long)
	if err != nil || len(tlvs) != 1 || len(tlvs[0].Value) != 256 {
		t.Fatalf("long form: %v %d", err, len(tlvs))
	}
	for _, bad := range []string{"01", "0105AABB", "00AA", "01FF01", "0102AABBFF00"} {
		if _, err := ParseSimpleTLV(unhex(t, bad)); !errors.Is(err, ErrMalformedTLV) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestFCI finds the algorithm in a real gen-3 SELECT SSSE answer (domain.md §1.1).
func TestFCI(t *testing.T) {
	fci := unhex(t, "6F1C840F7378312E73682EC9E7BBE1B1A3D5CFA50988011E9F0C03860103")
	alg, ok, err := FindBER(fci, 0x6F, 0xA5, 0x9F0C, 0x86)
	if err != nil || !ok || !bytes.Equal(alg, []byte{3}) {
		t.Fatalf("algorithm %X %v %v", alg, ok, err)
	}
	name, ok, _ := FindBER(fci, 0x6F, 0x84)
	if !ok || string(name[:7]) != "sx1.sh." {
		t.Fatalf("name %q", name)
	}
	if _, ok, err := FindBER(fci, 0x6F, 0xA5, 0xBF0C); ok || err != nil {
		t.Fatal("absent tag found")
	}
	if _, _, err := FindBER(unhex(t, "6F10840F"), 0x6F, 0x84); !errors.Is(err, ErrMalformedTLV) {
		t.Fatalf("truncated FCI: %v", err)
	}
	tlvs, err := ParseBER(unhex(t, "00FF5F2D02656E9F0C8103010203"))
	if err != nil || len(tlvs) != 2 || tlvs[0].Tag != 0x5F2D || tlvs[1].Tag != 0x9F0C || len(tlvs[1].Value) != 3 {
		t.Fatalf("padding and long length: %+v %v", tlvs, err)
	}
	if !(TLV{Tag: 0x6F}).Constructed() || (TLV{Tag: 0x9F0C}).Constructed() || !(TLV{Tag: 0xBF0C}).Constructed() {
		t.Fatal("Constructed")
	}
	for _, bad := range []string{"9F", "9FFFFF0101", "8485000000000101", "84820100"} {
		if _, err := ParseBER(unhex(t, bad)); !errors.Is(err, ErrMalformedTLV) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestATR parses real social security card ATRs (domain.md §6).
func TestATR(t *testing.T) {
	a, err := ParseATR(unhex(t, "3B6D000000814A444686605199000001AC"))
	if err != nil {
		t.Fatal(err)
	}
	if HexUpper(a.Historical) != "00814A444686605199000001AC" || a.Protocols[0] != 0 || a.TCKPresent {
		t.Fatalf("gen-3 ATR: %+v", a)
	}
	// A T=1 ATR with TCK (vsmartcard's default).
	a, err = ParseATR(unhex(t, "3B8F8001804F0CA0000003060300030000000068"))
	if err != nil || !a.TCKPresent || !a.TCKValid || len(a.Historical) != 15 || a.Protocols[len(a.Protocols)-1] != 1 {
		t.Fatalf("T=1 ATR: %+v %v", a, err)
	}
	a, _ = ParseATR(unhex(t, "3B8F8001804F0CA0000003060300030000000069"))
	if a.TCKValid {
		t.Fatal("bad TCK accepted as valid")
	}
	for _, bad := range []string{"", "3B", "3C00", "3B6D0000", "3BF0", "3B8F80"} {
		if _, err := ParseATR(unhex(t, bad)); !errors.Is(err, ErrMalformedATR) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

package cardsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
)

// fakeVPCD plays pcscd's vpcd side of the protocol over one accepted connection.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
	c  net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (f *fakeVPCD) accept() {
	f.t.Helper()
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.c = c
	f.t.Cleanup(func() { c.Close() })
}

func (f *fakeVPCD) send(msg []byte) {
	f.t.Helper()
	// vpcd writes header and body separately, as Debian's does.
	if _, err := f.c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(msg)))); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.c.Write(msg); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeVPCD) recv() ([]byte, error) {
	_ = f.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(f.c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(h[:]))
	_, err := io.ReadFull(f.c, b)
	return b, err
}

func (f *fakeVPCD) exchange(msg []byte) []byte {
	f.t.Helper()
	f.send(msg)
	r, err := f.recv()
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func TestServeVPCDProtocol(t *testing.T) {
	f := newFakeVPCD(t)
	p, _ := Shipped("lisi")
	c, _ := NewCard(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	connects := make(chan struct{}, 4)
	go func() {
		done <- Serve(ctx, f.ln.Addr().String(), c, ServeOptions{OnConnect: func() { connects <- struct{}{} }, RedialEvery: 5 * time.Millisecond})
	}()
	f.accept()
	<-connects
	f.send([]byte{vpcdPowerOn})
	atr := f.exchange([]byte{vpcdGetATR})
	if hex.EncodeToString(atr) != "3b6d000000544553545353350120000002" {
		t.Fatalf("ATR %x", atr)
	}
	sel := append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0F}, card.SSSEName...)
	if r := f.exchange(sel); !bytes.Equal(r, []byte{0x61, 0x1E}) {
		t.Fatalf("SELECT on a T=0 card: %X", r)
	}
	// Getting the ATR between commands does not reset the card.
	f.exchange([]byte{vpcdGetATR})
	if r := f.exchange([]byte{0x00, 0xC0, 0x00, 0x00, 0x1E}); len(r) != 0x20 || r[0] != 0x6F {
		t.Fatalf("GET RESPONSE: %X", r)
	}
	if r := f.exchange([]byte{0x00, 0xB2, 0x01, 0x2D, 0x40}); len(r) != 0x42 || r[0x40] != 0x90 {
		t.Fatalf("READ RECORD: %X", r)
	}
	// Power off and on: the selection is gone.
	f.send([]byte{vpcdPowerOff})
	f.send([]byte{vpcdPowerOn})
	if r := f.exchange([]byte{0x00, 0xB2, 0x01, 0x2D, 0x40}); !bytes.Equal(r, []byte{0x6A, 0x82}) {
		t.Fatalf("READ RECORD after a power cycle: %X", r)
	}
	// pcscd gone: the card dials again and is back in the reader.
	f.c.Close()
	f.accept()
	<-connects
	if r := f.exchange([]byte{vpcdGetATR}); len(r) != 17 {
		t.Fatalf("ATR after redial: %X", r)
	}
	// Pulled mid-command: no answer, the connection closes, Serve reports it.
	c.PullWhen(func(cmd apdu.Command) bool { return cmd.INS == 0x84 })
	f.send([]byte{0x00, 0x84, 0x00, 0x00, 0x08})
	if _, err := f.recv(); err == nil {
		t.Fatal("answer from a pulled card")
	}
	if err := <-done; !errors.Is(err, ErrPulled) {
		t.Fatalf("Serve: %v", err)
	}
	cancel()
	// Removal by the context: Serve returns nil and the connection closes.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- Serve(ctx, f.ln.Addr().String(), c, ServeOptions{}) }()
	f.accept()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if _, err := f.recv(); err == nil {
		t.Fatal("connection open after removal")
	}
}

func TestPSAMEmulator(t *testing.T) {
	p, err := NewPSAM(PSAMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Reset()
	for _, c := range []struct{ cmd, want string }{
		{"00B0960006", "3501000000019000"},
		{"80FA0000080000000000000000", "6985"},               // no environment, no session key
		{"BFDE670818" + strings.Repeat("00", 24), "6985"},    // outside DF01
		{"00A404000F7378322E73682EC9E7BBE1B1A3D5CF", "6A82"}, // no SSF33 environment
		{"00A404000F7378332E73682EC9E7BBE1B1A3D5CF", "6113"},
		{"00A4000002DF01", "610A"},
		{"BFDE670808" + "00", "6700"},
		{"BFDE470810" + "00112233445566778899AABBCCDDEEFF", "6A80"}, // 2 levels for a 3-level key
		{"BFDE670B28" + strings.Repeat("00", 40), "6A88"},
		{"BFEC00000135", "9000"},
		{"80FA010008AABBCCDDEEFF0011", "6A86"},
		{"00DE000000", "6D00"},
		{"A0A40000", "6E00"},
	} {
		r, err := p.Process(mustHex(t, c.cmd))
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(r); got != lower(c.want) {
			t.Errorf("%s: got %s, want %s", c.cmd, got, c.want)
		}
	}
	if _, err := NewPSAM(PSAMOptions{TerminalNo: "12345"}); err == nil {
		t.Fatal("short terminal number accepted")
	}
	if _, err := NewPSAM(PSAMOptions{Levels: 4}); err == nil {
		t.Fatal("4 levels accepted")
	}
}

func TestCardEmulatorStatusWords(t *testing.T) {
	p, _ := Shipped("zhangsan")
	c, _ := NewCard(p)
	c.Reset()
	sel := "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
	for _, x := range []struct{ cmd, want string }{
		{"00B2012D40", "6a82"}, // nothing selected
		{"0088000010" + "00112233445566778899AABBCCDDEEFF", "6985"},
		{sel, "611e"},
		{"00B2013540", "6982"}, // gen-3 EF06 before RKSSSE
		{"00B2012D00", "6c40"}, // wrong Le
		{"00B2092C12", "6a83"}, // no record 9
		{"00B2013D40", "6a82"}, // SFI 7
		{"00B2012E40", "6a86"}, // P2 mode 6
		{"00820000" + "10" + "00112233445566778899AABBCCDDEEFF", "6a88"}, // key 00
		{"0082000A10" + "00112233445566778899AABBCCDDEEFF", "6984"},      // no challenge
		{"0084000005", "6700"},
		{"0084000008", ""}, // a challenge (checked below)
		{"0082000A10" + "00112233445566778899AABBCCDDEEFF", "63c2"}, // wrong: 2 tries left
		{"0082000A10" + "00112233445566778899AABBCCDDEEFF", "6984"}, // the challenge was spent
		{"00CA000000", "6d00"},
		{"80B2012D40", "6e00"},
		{"00C0000008", "6985"}, // nothing to get
		{"00A40000023F00", "9000"},
		{"00A4020C02EF05", "6a82"}, // EF05 is inside SSSE
	} {
		r, err := c.Process(mustHex(t, x.cmd))
		if err != nil {
			t.Fatal(err)
		}
		got := hex.EncodeToString(r)
		if x.want == "" {
			if len(r) != 10 || got[16:] != "9000" {
				t.Errorf("%s: %s", x.cmd, got)
			}
			continue
		}
		if got != x.want {
			t.Errorf("%s: got %s, want %s", x.cmd, got, x.want)
		}
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

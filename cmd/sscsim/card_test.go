package main

import (
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
)

// vpcdPeer plays the reader side (pcscd's vpcd driver) for an instrument.
type vpcdPeer struct {
	t  *testing.T
	ln net.Listener
	c  net.Conn
}

func (v *vpcdPeer) accept() {
	v.t.Helper()
	_ = v.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := v.ln.Accept()
	if err != nil {
		v.t.Fatal(err)
	}
	v.c = c
}

func (v *vpcdPeer) exchange(msg []byte) ([]byte, error) {
	_ = v.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := v.c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)); err != nil {
		return nil, err
	}
	var h [2]byte
	if _, err := io.ReadFull(v.c, h[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(h[:]))
	_, err := io.ReadFull(v.c, b)
	return b, err
}

// runInstrument runs an sscsim command with a pipe as its control input.
func runInstrument(t *testing.T, args ...string) (*vpcdPeer, *io.PipeWriter, *labtest.Output, chan int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	pr, pw := io.Pipe()
	stdin = pr
	t.Cleanup(func() { stdin = nil; pw.Close() })
	out := &labtest.Output{}
	rc := make(chan int, 1)
	go func() { rc <- prog.Dispatch(append(args, "--vpcd", ln.Addr().String()), out, io.Discard) }()
	return &vpcdPeer{t: t, ln: ln}, pw, out, rc
}

func TestCardInstrument(t *testing.T) {
	v, ctl, out, rc := runInstrument(t, "card", "--profile", "lisi")
	v.accept()
	atr, err := v.exchange([]byte{0x04})
	if err != nil || hex.EncodeToString(atr) != "3b6d000000544553545353350120000002" {
		t.Fatalf("ATR %x %v", atr, err)
	}
	out.WaitFor(t, "inserted")
	io.WriteString(ctl, "remove\n")
	out.WaitFor(t, "removed")
	if _, err := v.exchange([]byte{0x04}); err == nil {
		t.Fatal("the card answers after remove")
	}
	io.WriteString(ctl, "insert\n")
	v.accept()
	if r, err := v.exchange([]byte{0x00, 0x84, 0x00, 0x00, 0x08}); err != nil || len(r) != 10 {
		t.Fatalf("GET CHALLENGE after insert: %x %v", r, err)
	}
	io.WriteString(ctl, "quit\n")
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("quit did not end the instrument")
	}
}

func TestCardInstrumentPullAfter(t *testing.T) {
	v, ctl, out, rc := runInstrument(t, "card", "--profile", "zhangsan", "--pull-after", "2")
	v.accept()
	if r, err := v.exchange([]byte{0x00, 0x84, 0x00, 0x00, 0x08}); err != nil || len(r) != 10 {
		t.Fatalf("first command: %x %v", r, err)
	}
	if _, err := v.exchange([]byte{0x00, 0x84, 0x00, 0x00, 0x08}); err == nil {
		t.Fatal("the second command was answered")
	}
	out.WaitFor(t, "removed (cardsim: card pulled out)")
	io.WriteString(ctl, "quit\n")
	if code := <-rc; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestPSAMInstrument(t *testing.T) {
	v, ctl, _, rc := runInstrument(t, "psam", "--terminal-no", "350100123456", "--algorithms", "sm4", "--no-rk")
	v.accept()
	if r, err := v.exchange([]byte{0x00, 0xB0, 0x96, 0x00, 0x06}); err != nil || hex.EncodeToString(r) != "3501001234569000" {
		t.Fatalf("0016: %x %v", r, err)
	}
	sx1 := append([]byte{0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31}, []byte{0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF}...)
	if r, _ := v.exchange(sx1); hex.EncodeToString(r) != "6a82" {
		t.Fatalf("sx1 on an SM4-only PSAM: %x", r)
	}
	io.WriteString(ctl, "quit\n")
	if code := <-rc; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestInstrumentUsage(t *testing.T) {
	var errOut strings.Builder
	for _, args := range [][]string{{"card"}, {"card", "--vpcd", "x:1"}, {"psam"}, {"psam", "--vpcd", "x:1", "--algorithms", "aes"}} {
		errOut.Reset()
		if rc := prog.Dispatch(args, io.Discard, &errOut); rc != 2 || !strings.Contains(errOut.String(), "TEST INSTRUMENT") {
			t.Errorf("%v: exit %d, help %q", args, rc, errOut.String())
		}
	}
	if rc := prog.Dispatch([]string{"card", "--vpcd", "x:1", "--profile", "nobody"}, io.Discard, io.Discard); rc != 1 {
		t.Errorf("unknown profile: exit %d", rc)
	}
}

package pty_test

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sscagent/sscagent/internal/pty"
)

// TestRaw: bytes written to the master reach the slave unchanged (no CR/LF translation,
// no line editing), and nothing is echoed back to the master.
func TestRaw(t *testing.T) {
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	s, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []byte("CODE\r\n\x7f\x03\x15tail\n")
	if _, err := master.Write(want); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := s.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("read %q: %v", got, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("slave read %q, want %q", got, want)
	}
	// An echo would be queued for the master by the time the slave read the input.
	if n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCINQ); err != nil || n != 0 {
		t.Fatalf("%d bytes echoed to the master (%v)", n, err)
	}
}

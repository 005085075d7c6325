package serial_test

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/qrscan/serial"
)

func TestOpenMissingPort(t *testing.T) {
	_, err := serial.Open(serial.Config{Port: "/nonexistent/ttyQR"})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open of a missing port: %v, want a not-exist error", err)
	}
}

// queued writes s to the simulator end and waits until it sits unread in the agent end's
// input queue (socat forwards asynchronously). It returns the fd it watched with, to be
// closed after the port is opened (closing a tty's last fd discards its input).
func queued(t *testing.T, p *labtest.Pair, s string) int {
	t.Helper()
	fd, err := unix.Open(p.Agent, unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte(s))
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(s) {
			return fd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes reached the agent end", n, len(s))
		}
		time.Sleep(time.Millisecond) // polling a kernel counter that has no notification
	}
}

// TestOpenPtyEveryMode opens a real pty with each parity and stop-bit setting, reads a
// line, flushes what was sent before the open, and reports the hangup as ErrClosed.
func TestOpenPtyEveryMode(t *testing.T) {
	p := labtest.NewPair(t)
	for _, c := range []serial.Config{
		{Baud: 9600},
		{Baud: 115200, DataBits: 7, Parity: serial.ParityEven, StopBits: 2},
		{Baud: 19200, Parity: serial.ParityOdd},
		{Parity: serial.ParityMark},
		{Parity: serial.ParitySpace},
	} {
		c.Port = p.Agent
		probe := queued(t, p, "STALE\r\n") // sent while the port is closed: must be dropped
		port, err := serial.Open(c)
		unix.Close(probe)
		if err != nil {
			t.Fatalf("open %+v: %v", c, err)
		}
		p.Write([]byte("FRESH\r\n"))
		got := make([]byte, 7)
		if _, err := io.ReadFull(port, got); err != nil || string(got) != "FRESH\r\n" {
			t.Fatalf("%+v: read %q, %v; want FRESH (stale input flushed)", c, got, err)
		}
		port.Close()
	}
	port, err := serial.Open(serial.Config{Port: p.Agent})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	res := make(chan error, 1)
	go func() {
		_, err := port.Read(make([]byte, 8))
		res <- err
	}()
	p.Stop()
	select {
	case err := <-res:
		if !errors.Is(err, serial.ErrClosed) {
			t.Fatalf("read after hangup: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hangup did not end the read")
	}
}

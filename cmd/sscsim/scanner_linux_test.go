package main

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// TestVirtualScannerPty runs "sscsim scanner --pty" and reads what it sends through the
// agent's serial layer: nothing is sent before the port is opened, then each code with
// its prefix and terminator, repeated as asked.
func TestVirtualScannerPty(t *testing.T) {
	link := filepath.Join(t.TempDir(), "qr")
	var out, errOut labtest.Output
	rc := make(chan int, 1)
	go func() {
		rc <- cmdScanner([]string{"--pty", link, "--terminator", "03", "--prefix", "\x02", "--repeat", "2",
			"--interval", "10ms", "--hold", "0s", "CODE-A", "CODE-B"}, &out, &errOut)
	}()
	errOut.WaitFor(t, "waiting for the agent")
	port, err := serial.Open(serial.Config{Port: link})
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	want := "\x02CODE-A\x03\x02CODE-A\x03\x02CODE-B\x03\x02CODE-B\x03"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(port, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("virtual scanner did not exit")
	}
}

func TestTerminatorBytes(t *testing.T) {
	for in, want := range map[string]string{"crlf": "\r\n", "cr": "\r", "lf": "\n", "none": "", "03": "\x03", "0a": "\n"} {
		if got, err := terminatorBytes(in); err != nil || string(got) != want {
			t.Errorf("terminatorBytes(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"x", "003", "zz", ""} {
		if _, err := terminatorBytes(bad); err == nil {
			t.Errorf("terminatorBytes(%q) accepted", bad)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/labtest"
)

// TestQRListenSerial checks "sscagent qr listen --serial PTY --count 2 --json" against a
// real pty pair: two scans printed masked with source and class, bad input counted.
func TestQRListenSerial(t *testing.T) {
	p := labtest.NewPair(t)
	var out bytes.Buffer
	errOut := &labtest.Output{}
	rc := make(chan int, 1)
	go func() {
		rc <- prog.Dispatch([]string{"qr", "listen", "--config", filepath.Join(t.TempDir(), "none.yaml"),
			"--serial", p.Agent, "--count", "2", "--json"}, &out, errOut)
	}()
	errOut.WaitFor(t, "cli: connected")
	const code = "SECRET-ESSC-CODE-0123456789"
	p.Write([]byte(code + "\r\nBAD\x00LINE\r\n6901234567892\r\n"))
	select {
	case got := <-rc:
		if got != cli.ExitOK {
			t.Fatalf("exit %d; stderr:\n%s", got, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("qr listen did not exit after 2 scans")
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Fatalf("code printed in clear:\n%s", out.String())
	}
	var lines []qrLine
	dec := json.NewDecoder(&out)
	for dec.More() {
		var l qrLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 || lines[0].Class != "essc" || lines[0].Length != len(code) || lines[0].Source != "cli" ||
		!strings.HasPrefix(lines[0].Code, "<secret len=27 id=") || lines[1].Class != "unknown" {
		t.Fatalf("printed %+v", lines)
	}
	if !strings.Contains(errOut.String(), "cli: 2 scans, 1 bad input") {
		t.Fatalf("summary missing from stderr:\n%s", errOut.String())
	}
}

func TestQRListenUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if rc := prog.Dispatch([]string{"qr"}, &out, &errOut); rc != cli.ExitUsage {
		t.Fatalf("qr without subcommand: exit %d", rc)
	}
	if rc := prog.Dispatch([]string{"qr", "listen", "--serial", "x", "--stdin"}, &out, &errOut); rc != cli.ExitUsage {
		t.Fatalf("--serial with --stdin: exit %d", rc)
	}
	rc := prog.Dispatch([]string{"qr", "listen", "--config", filepath.Join(t.TempDir(), "none.yaml")}, &out, &errOut)
	if rc != cli.ExitFail || !strings.Contains(errOut.String(), "no configuration file") {
		t.Fatalf("missing config without --serial: exit %d, %s", rc, errOut.String())
	}
}

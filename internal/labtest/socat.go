package labtest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pair is a running socat pseudo-terminal pair, a real serial line for tests: Agent is the
// link the agent opens (a scanner or relay port), Sim the link the test writes to or reads
// from. It can be torn down and recreated to simulate a USB replug. Both links point to
// /dev/pts/N and vanish when socat stops.
type Pair struct {
	Agent string
	Sim   string
	t     testing.TB
	cmd   *exec.Cmd
	done  chan struct{}
}

// NewPair starts socat on links in a private temporary directory and waits until it
// reports its data transfer loop. Without socat it skips the test (fails it under CI); it
// stops socat when the test ends.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	Require(t, "socat")
	dir := t.TempDir()
	p := &Pair{Agent: filepath.Join(dir, "qr-agent"), Sim: filepath.Join(dir, "qr-sim"), t: t}
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start (re)starts socat on the pair's links. The new pty has a new /dev/pts number, as a
// replugged USB scanner gets a new device instance.
func (p *Pair) Start() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.Command("socat", "-d", "-d",
		"pty,raw,echo=0,link="+p.Agent, "pty,raw,echo=0,link="+p.Sim)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start socat: %v", err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() { // owned by the pair: ends when socat exits and closes stderr
		defer close(done)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "starting data transfer loop") {
				close(ready)
				signalled = true
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-done:
		p.t.Fatal("socat exited before it was ready")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		p.t.Fatal("socat did not become ready within 10s")
	}
	p.cmd, p.done = cmd, done
}

// Stop ends socat (SIGTERM, then SIGKILL after 5s) and waits for it; the links disappear
// and the agent's open port reads a hangup. Calling it twice is harmless.
func (p *Pair) Stop() {
	if p.cmd == nil {
		return
	}
	stopProcess(p.cmd.Process, os.Interrupt, p.done)
	p.cmd = nil
}

// Write writes b to the simulator end in one write call.
func (p *Pair) Write(b []byte) {
	p.t.Helper()
	f, err := os.OpenFile(p.Sim, os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatalf("open %s: %v", p.Sim, err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		p.t.Fatalf("write %s: %v", p.Sim, err)
	}
}

// Open opens the simulator end for a sequence of writes (split writes, floods); the
// caller closes it.
func (p *Pair) Open() *os.File {
	p.t.Helper()
	f, err := os.OpenFile(p.Sim, os.O_RDWR, 0)
	if err != nil {
		p.t.Fatalf("open %s: %v", p.Sim, err)
	}
	return f
}

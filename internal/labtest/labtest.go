// Package labtest gives tests the real external parts they run against: which system
// tools are installed, free loopback ports, and (in the files of this package) the
// services started for one test: pcscd with the vpcd virtual reader, mosquitto, socat
// pty pairs. Every service is private to the test that starts it and stopped when the
// test ends, so packages can run in parallel.
//
// A test that needs a missing tool is skipped on a developer machine, but fails when the
// CI environment variable is set: CI installs every tool (.ci/run), so a skip there would
// hide a test that did not run.
package labtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (the CI environment variable is set and
// not "false"), where every lab tool must be present.
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Require skips t (or fails it under CI) unless every named command is on PATH.
func Require(t testing.TB, commands ...string) {
	t.Helper()
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			Unavailable(t, c+" is not installed (.ci/run installs it)")
		}
	}
}

// Unavailable skips t with reason, or fails it under CI.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatal("lab part unavailable under CI: " + reason)
	}
	t.Skip(reason)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A service started
// on it can still lose a race with another process; starters retry on a new port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePorts returns n consecutive free TCP ports (vpcd listens on a base port plus the
// slot number, on every interface). It returns the first.
func FreePorts(t testing.TB, n int) int {
	t.Helper()
	base, err := freePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// freePorts finds n consecutive TCP ports free on every interface and returns the first.
func freePorts(n int) (int, error) {
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, err
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		var ls []net.Listener
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", ":"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("labtest: no %d consecutive free ports", n)
}

// stopGrace is how long a lab service gets to exit after its stop signal before it is
// killed.
const stopGrace = 5 * time.Second

// stopProcess asks a service to stop with sig, kills it if it has not exited within
// stopGrace, and waits until done (closed when the process has been waited for).
func stopProcess(p *os.Process, sig os.Signal, done <-chan struct{}) {
	_ = p.Signal(sig)
	select {
	case <-done:
	case <-time.After(stopGrace):
		_ = p.Kill()
		<-done
	}
}

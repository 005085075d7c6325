//go:build linux

package labtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// VPCDDriver is where Debian's vsmartcard-vpcd installs the vpcd reader driver.
const VPCDDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

// PCSCD is a private pcscd with vpcd virtual readers (lab.md §1-3). It runs in a mount
// namespace of its own where /run/pcscd is a directory of the test (unprivileged users
// get a user namespace too), so it never meets the system's pcscd; clients reach it
// through PCSCLITE_CSOCK_NAME, which StartPCSCD sets in the test process's environment.
//
// Each reader entry is a vpcd driver instance with two slots on two consecutive free
// TCP ports: entry "Holder" gives the readers "Holder 00 00" and "Holder 00 01". A card
// is inserted into a slot by connecting to its port (cardsim.Serve), so never probe a
// slot's port. libpcsclite reads PCSCLITE_CSOCK_NAME once per process: a test binary
// talks to one pcscd, so start it once (SharedPCSCD) and keep PC/SC tests in few
// packages. Child processes (a binary under test) can each get a daemon of their own:
// set PCSCLITE_CSOCK_NAME to its Socket in their environment.
type PCSCD struct {
	// Socket is the daemon's socket (PCSCLITE_CSOCK_NAME).
	Socket string
	dir    string

	mu      sync.Mutex // guards the fields below
	entries []vpcdEntry
	cmd     *exec.Cmd
	done    chan struct{}
	serial  int // copies of the driver made
}

type vpcdEntry struct {
	name string
	port int
	file string
}

// StartPCSCD starts a pcscd with one two-slot vpcd entry per name in dir, and waits
// until its socket answers and every slot listens. It does not touch this process's
// environment (see SharedPCSCD).
func StartPCSCD(dir string, names ...string) (*PCSCD, error) {
	for _, c := range []string{"pcscd", "unshare"} {
		if _, err := exec.LookPath(c); err != nil {
			return nil, fmt.Errorf("labtest: %s is not installed (.ci/run installs it)", c)
		}
	}
	if _, err := os.Stat(VPCDDriver); err != nil {
		return nil, fmt.Errorf("labtest: vsmartcard-vpcd is not installed (.ci/run installs it): %w", err)
	}
	d := &PCSCD{dir: dir, Socket: filepath.Join(dir, "run", "pcscd.comm")}
	for _, sub := range []string{"run", "conf", "lib"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if err := d.addEntry(n); err != nil {
			return nil, err
		}
	}
	if err := d.Start(); err != nil {
		return nil, err
	}
	return d, nil
}

// addEntry writes the configuration of one vpcd entry; d.mu is held or d is new.
func (d *PCSCD) addEntry(name string) error {
	port, err := freePorts(2)
	if err != nil {
		return err
	}
	lib := VPCDDriver
	if len(d.entries) > 0 {
		// vpcd keeps its slot state in a static array indexed by slot only, and pcscd
		// reuses a driver already loaded from the same path: a second entry needs its
		// own copy of the library (lab.md §2).
		d.serial++
		lib = filepath.Join(d.dir, "lib", fmt.Sprintf("libifdvpcd-%d.so", d.serial))
		if err := copyFile(VPCDDriver, lib); err != nil {
			return err
		}
	}
	file := filepath.Join(d.dir, "conf", fmt.Sprintf("vpcd-%d", port))
	conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME /dev/null:%d\nLIBPATH %s\nCHANNELID %d\n", name, port, lib, port)
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return err
	}
	d.entries = append(d.entries, vpcdEntry{name: name, port: port, file: file})
	return nil
}

// Addr returns the vpcd address of a slot: "127.0.0.1:PORT" of slot 0 or 1 of the
// entry name.
func (d *PCSCD) Addr(name string, slot int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range d.entries {
		if e.name == name {
			return "127.0.0.1:" + strconv.Itoa(e.port+slot)
		}
	}
	panic("labtest: no vpcd entry " + name)
}

// Reader returns the PC/SC reader name of a slot: "Holder 00 01".
func Reader(name string, slot int) string { return fmt.Sprintf("%s 00 %02X", name, slot) }

// Start starts the daemon (again, after Stop) and waits until it is ready.
func (d *PCSCD) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("labtest: pcscd already running")
	}
	logf, err := os.OpenFile(filepath.Join(d.dir, "pcscd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	ns := []string{"unshare", "--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		ns = []string{"unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"}
	}
	// A tmpfs over /run hides the host's /run/pcscd; the bind mount puts ours there.
	script := `mount -t tmpfs tmpfs /run && mkdir /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --info -c "$2"`
	args := append(ns[1:], "sh", "-c", script, "sh", filepath.Join(d.dir, "run"), filepath.Join(d.dir, "conf"))
	cmd := exec.Command(ns[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The daemon dies with the test binary even if nothing stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("labtest: start pcscd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.cmd, d.done = cmd, done
	ports := make([]int, 0, 2*len(d.entries))
	for _, e := range d.entries {
		ports = append(ports, e.port, e.port+1)
	}
	if err := d.waitReady(done, ports); err != nil {
		d.stopLocked()
		return fmt.Errorf("%w\n%s", err, d.logTail())
	}
	return nil
}

// waitReady polls (every 20 ms, for at most 10 s) until the socket accepts and every
// vpcd slot listens. Listeners are read from /proc/net/tcp: connecting to a vpcd port
// would insert a card.
func (d *PCSCD) waitReady(done <-chan struct{}, ports []int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return errors.New("labtest: pcscd exited")
		default:
		}
		if c, err := net.Dial("unix", d.Socket); err == nil {
			c.Close()
			if listening(ports) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("labtest: pcscd not ready after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the daemon (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
// Every client then sees the service gone.
func (d *PCSCD) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *PCSCD) stopLocked() {
	if d.cmd == nil {
		return
	}
	stopProcess(d.cmd.Process, syscall.SIGTERM, d.done)
	d.cmd, d.done = nil, nil
	_ = os.Remove(d.Socket)
}

// Restart stops and starts the daemon: the "pcscd restarted" of the field.
func (d *PCSCD) Restart() error {
	d.Stop()
	return d.Start()
}

// AddReader adds a two-slot vpcd entry to the configuration; it takes effect when the
// daemon next starts. (Debian's pcscd 1.9.9 uses libudev hotplug, whose
// HPReCheckSerialReaders does nothing: SIGUSR1, "pcscd --hotplug", does not re-read the
// serial reader configuration, so vpcd readers cannot be hot-plugged into a running
// daemon. Reader hot-plug proper is tested with drivers/simreader.)
func (d *PCSCD) AddReader(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addEntry(name)
}

// RemoveReader removes an entry from the configuration; it takes effect when the daemon
// next starts.
func (d *PCSCD) RemoveReader(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, e := range d.entries {
		if e.name == name {
			if err := os.Remove(e.file); err != nil {
				return err
			}
			d.entries = append(d.entries[:i], d.entries[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("labtest: no vpcd entry %s", name)
}

// Log returns the daemon's log so far (for test failure messages).
func (d *PCSCD) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "pcscd.log"))
	return string(b)
}

func (d *PCSCD) logTail() string {
	l := d.Log()
	if len(l) > 4000 {
		l = "..." + l[len(l)-4000:]
	}
	return "pcscd log:\n" + l
}

var shared struct {
	mu  sync.Mutex
	d   *PCSCD
	dir string
	err error
}

// SharedPCSCD returns the test binary's pcscd, started at the first call with one
// vpcd entry per name (later calls get the same daemon whatever they name), and points
// this process's PC/SC client at it (PCSCLITE_CSOCK_NAME). It skips the test when
// pcscd, vpcd or a mount namespace is not available, and fails it under CI. Call
// StopSharedPCSCD from TestMain after m.Run.
func SharedPCSCD(t testing.TB, names ...string) *PCSCD {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.d == nil && shared.err == nil {
		shared.dir, shared.err = os.MkdirTemp("", "sscagent-pcscd-")
		if shared.err == nil {
			shared.d, shared.err = StartPCSCD(shared.dir, names...)
		}
		if shared.err == nil {
			shared.err = os.Setenv("PCSCLITE_CSOCK_NAME", shared.d.Socket)
		}
	}
	if shared.err != nil {
		Unavailable(t, shared.err.Error())
	}
	return shared.d
}

// PCSCDForTest starts a pcscd for one test and stops it when the test ends; it skips
// (fails under CI) like SharedPCSCD. It is for tests of binaries run as child
// processes, which reach it through PCSCLITE_CSOCK_NAME=Socket in their environment
// (t.Setenv): this process's own PC/SC client keeps the socket it first used.
func PCSCDForTest(t testing.TB, names ...string) *PCSCD {
	t.Helper()
	dir, err := os.MkdirTemp("", "sscagent-pcscd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := StartPCSCD(dir, names...)
	if err != nil {
		Unavailable(t, err.Error())
	}
	t.Cleanup(d.Stop)
	return d
}

// StopSharedPCSCD stops the daemon SharedPCSCD started, if any, and removes its files.
func StopSharedPCSCD() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.d != nil {
		shared.d.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	shared.d, shared.dir, shared.err = nil, "", nil
}

// listening reports whether every port has a listening TCP socket, from
// /proc/net/tcp and tcp6.
func listening(ports []int) bool {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(portHex, 16, 32); err == nil {
				delete(want, int(p))
			}
		}
		fh.Close()
	}
	return len(want) == 0
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

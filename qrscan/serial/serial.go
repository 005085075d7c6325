// Package serial opens QR scanners that present themselves as a serial port: RS-232
// scanners, USB CDC-ACM "virtual COM" scanners (/dev/ttyACM*, COMn on Windows) and, for
// tests and the demo, pseudo-terminals. It is a thin layer over go.bug.st/serial that
// turns the section's settings into a port mode and adds receive-side flow control.
//
// Flow control on a receive-only link means telling the scanner to hold its data while
// the agent cannot take more scans. go.bug.st/serial always clears the kernel's CRTSCTS
// and IXON settings, so this package drives the lines itself:
//
//   - rtscts: RTS is asserted while the agent accepts scans and dropped while it is busy;
//   - xonxoff: XON (0x11) is sent when the port opens and when the agent is ready again,
//     XOFF (0x13) when it is busy.
//
// The port's input buffer is flushed when it opens: bytes a scanner sent while nobody was
// listening are stale codes (an e-card code is valid for about a minute and single use).
package serial

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"syscall"

	"go.bug.st/serial"

	"github.com/sscagent/sscagent/internal/config"
)

// Parity names.
const (
	ParityNone  = "none"
	ParityOdd   = "odd"
	ParityEven  = "even"
	ParityMark  = "mark"
	ParitySpace = "space"
)

// Flow control names.
const (
	FlowNone    = "none"
	FlowRTSCTS  = "rtscts"
	FlowXonXoff = "xonxoff"
)

// Config is the "serial" block of a scanner. Zero values take the defaults: 9600 baud,
// 8 data bits, no parity, 1 stop bit, no flow control (9600 8N1 is what scanners ship with).
type Config struct {
	// Port is the device path: /dev/ttyACM0, /dev/serial/by-id/..., COM3, a pty link.
	Port string `yaml:"port"`
	// Baud is the bit rate. Default 9600.
	Baud int `yaml:"baud"`
	// DataBits is 5, 6, 7 or 8. Default 8.
	DataBits int `yaml:"dataBits"`
	// Parity is none, odd, even, mark or space. Default none.
	Parity string `yaml:"parity"`
	// StopBits is 1 or 2 (1.5 on Windows only). Default 1.
	StopBits float64 `yaml:"stopBits"`
	// FlowControl is none, rtscts or xonxoff (receive side, see the package doc). Default none.
	FlowControl string `yaml:"flowControl"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Baud == 0 {
		c.Baud = 9600
	}
	if c.DataBits == 0 {
		c.DataBits = 8
	}
	if c.Parity == "" {
		c.Parity = ParityNone
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	if c.FlowControl == "" {
		c.FlowControl = FlowNone
	}
	return c
}

// Validate implements config.Validator. It checks the values, not that the port exists.
func (c Config) Validate(path string, ps *config.Problems) {
	c = c.WithDefaults()
	p := func(f string) string { return config.Join(path, f) }
	if c.Port == "" {
		ps.Addf(p("port"), "required")
	}
	if c.Baud < 50 || c.Baud > 4_000_000 {
		ps.Addf(p("baud"), "must be between 50 and 4000000, got %d", c.Baud)
	}
	if c.DataBits < 5 || c.DataBits > 8 {
		ps.Addf(p("dataBits"), "must be 5, 6, 7 or 8, got %d", c.DataBits)
	}
	if !slices.Contains([]string{ParityNone, ParityOdd, ParityEven, ParityMark, ParitySpace}, c.Parity) {
		ps.Addf(p("parity"), "must be none, odd, even, mark or space, got %q", c.Parity)
	}
	switch {
	case c.StopBits == 1.5 && runtime.GOOS != "windows":
		ps.Addf(p("stopBits"), "1.5 stop bits exist on Windows only (POSIX serial ports have 1 or 2)")
	case c.StopBits != 1 && c.StopBits != 1.5 && c.StopBits != 2:
		ps.Addf(p("stopBits"), "must be 1, 1.5 or 2, got %v", c.StopBits)
	}
	if !slices.Contains([]string{FlowNone, FlowRTSCTS, FlowXonXoff}, c.FlowControl) {
		ps.Addf(p("flowControl"), "must be none, rtscts or xonxoff, got %q", c.FlowControl)
	}
}

// mode converts a defaulted, valid configuration to the library's port mode.
func (c Config) mode() *serial.Mode {
	m := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits}
	switch c.Parity {
	case ParityOdd:
		m.Parity = serial.OddParity
	case ParityEven:
		m.Parity = serial.EvenParity
	case ParityMark:
		m.Parity = serial.MarkParity
	case ParitySpace:
		m.Parity = serial.SpaceParity
	}
	switch c.StopBits {
	case 1.5:
		m.StopBits = serial.OnePointFiveStopBits
	case 2:
		m.StopBits = serial.TwoStopBits
	}
	return m
}

// Flow control bytes of the xonxoff discipline.
const (
	XON  = 0x11
	XOFF = 0x13
)

// ErrClosed is returned by Read once the port has gone: the device was unplugged, the
// pty's other end closed, or Close was called. The caller reopens with backoff.
var ErrClosed = errors.New("serial: port closed")

// Port is an open scanner port. Read and Close may be called from different goroutines;
// Close unblocks a pending Read.
type Port struct {
	p    serial.Port
	name string
	flow string
}

// Open opens and configures the port, flushes stale input and signals "ready" when flow
// control is on.
func Open(c Config) (*Port, error) {
	c = c.WithDefaults()
	var ps config.Problems
	c.Validate("serial", &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	p, err := serial.Open(c.Port, c.mode())
	if err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", c.Port, describe(err))
	}
	port := &Port{p: p, name: c.Port, flow: c.FlowControl}
	if err := p.ResetInputBuffer(); err != nil {
		p.Close()
		return nil, fmt.Errorf("serial: flush %s: %w", c.Port, describe(err))
	}
	if err := port.Pause(false); err != nil {
		p.Close()
		return nil, err
	}
	return port, nil
}

// Read reads what the scanner sent. A vanished port is ErrClosed: the library reports
// most as PortClosed, but a tty whose other side hung up can also fail a read with EIO.
func (p *Port) Read(b []byte) (int, error) {
	n, err := p.p.Read(b)
	if err != nil {
		var pe *serial.PortError
		if errors.As(err, &pe) && pe.Code() == serial.PortClosed || errors.Is(err, syscall.EIO) {
			return n, fmt.Errorf("%w: %s", ErrClosed, p.name)
		}
		return n, fmt.Errorf("serial: read %s: %w", p.name, err)
	}
	return n, nil
}

// Pause asks the scanner to hold (true) or resume (false) sending, by the configured
// flow control; without flow control it does nothing.
func (p *Port) Pause(hold bool) error {
	var err error
	switch p.flow {
	case FlowRTSCTS:
		err = p.p.SetRTS(!hold)
	case FlowXonXoff:
		b := []byte{XON}
		if hold {
			b[0] = XOFF
		}
		_, err = p.p.Write(b)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("serial: %s flow control on %s: %w", p.flow, p.name, describe(err))
	}
	return nil
}

// Close releases the port and unblocks a pending Read.
func (p *Port) Close() error { return p.p.Close() }

// ErrBusy means another program has the port open.
var ErrBusy = errors.New("serial: port busy (another program has it open)")

// describe turns the library's errors into ours: busy is ErrBusy, permission problems
// match os.ErrPermission, a missing port matches os.ErrNotExist.
func describe(err error) error {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortBusy:
			return ErrBusy
		case serial.PermissionDenied:
			return fmt.Errorf("%w (is the agent in the dialout group?)", os.ErrPermission)
		case serial.PortNotFound:
			return fmt.Errorf("%w: %v", os.ErrNotExist, err)
		}
	}
	return err
}

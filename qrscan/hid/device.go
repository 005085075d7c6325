package hid

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrRemoved is returned by Read when the device went away (USB unplug). The caller
// reopens with backoff; Find locates the device again under its new event number.
var ErrRemoved = errors.New("hid: input device removed")

// ErrBusy means another program holds the device exclusively.
var ErrBusy = errors.New("hid: input device grabbed by another program")

// ErrUnsupported is returned by Open where evdev does not exist (every OS but Linux).
var ErrUnsupported = errors.New("hid: keyboard-wedge scanners need Linux evdev; use the scanner's serial (USB CDC) mode")

// Device reads text from a keyboard-wedge scanner: Read returns the characters its key
// events type. Read and Close may be called from different goroutines.
type Device struct {
	src  io.ReadCloser
	path string
	dec  Decoder
	raw  []byte // undecoded input_event bytes
	have int
	out  []byte // decoded text not yet returned
	next int
}

// readEvents is how many input_events one read takes at most.
const readEvents = 64

// NewDevice reads input_event records from src, an opened event device (or, in tests, a
// pipe carrying recorded events). path names it in errors.
func NewDevice(src io.ReadCloser, path string) *Device {
	return &Device{src: src, path: path, raw: make([]byte, readEvents*EventSize),
		out: make([]byte, 0, readEvents*4)}
}

// Read returns the text typed so far, blocking until at least one byte is typed.
func (d *Device) Read(p []byte) (int, error) {
	for d.next == len(d.out) {
		d.out, d.next = d.out[:0], 0
		n, err := d.src.Read(d.raw[d.have:])
		d.have += n
		used := ParseEvents(d.raw[:d.have], func(e Event) { d.out = d.dec.Decode(e, d.out) })
		d.have = copy(d.raw, d.raw[used:d.have])
		if err != nil && len(d.out) == 0 {
			return 0, d.readError(err)
		}
	}
	n := copy(p, d.out[d.next:])
	d.next += n
	return n, nil
}

// Unmapped reports how many key presses the layout did not know (each typed a NUL).
func (d *Device) Unmapped() uint64 { return d.dec.Unmapped }

func (d *Device) readError(err error) error {
	if errors.Is(err, syscall.ENODEV) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s", ErrRemoved, d.path)
	}
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("hid: %s: %w", d.path, err)
	}
	return fmt.Errorf("hid: read %s: %w", d.path, err)
}

// Close releases the device (and the grab) and unblocks a pending Read.
func (d *Device) Close() error { return d.src.Close() }

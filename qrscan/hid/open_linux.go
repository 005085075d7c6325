package hid

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// eviocgrab is EVIOCGRAB, _IOW('E', 0x90, int).
const eviocgrab = 0x40044590

// Open finds the device (see Find), opens it and, unless c.Grab is shared, takes it
// exclusively so its keystrokes reach no other program.
func Open(c Config, r Roots) (*Device, error) {
	c = c.WithDefaults()
	p, err := Find(c, r)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY, 0) // a character device: pollable, Close unblocks Read
	if err != nil {
		return nil, fmt.Errorf("hid: open %s: %w (is the agent in the input group?)", p, err)
	}
	if c.Grab == GrabExclusive {
		if err := grab(f); err != nil {
			f.Close()
			if errors.Is(err, unix.EBUSY) {
				return nil, fmt.Errorf("%w: %s", ErrBusy, p)
			}
			return nil, fmt.Errorf("hid: grab %s: %w", p, err)
		}
	}
	return NewDevice(f, p), nil
}

// grab takes the device exclusively; closing the file releases it.
func grab(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) { ierr = unix.IoctlSetInt(int(fd), eviocgrab, 1) }); err != nil {
		return err
	}
	return ierr
}

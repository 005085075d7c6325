//go:build !linux

package pty

import (
	"errors"
	"os"
)

// ErrUnsupported is returned by Open where there are no pseudo-terminals it can open.
var ErrUnsupported = errors.New("pty: no pseudo-terminals on this system")

// Open is not available here.
func Open() (master *os.File, slave string, err error) {
	return nil, "", ErrUnsupported
}

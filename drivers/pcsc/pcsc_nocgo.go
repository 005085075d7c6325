//go:build !cgo && !windows

package pcsc

import (
	"fmt"
	"time"

	"github.com/sscagent/sscagent/drivers"
)

// Options configures Open (see the cgo build).
type Options struct {
	RelistEvery time.Duration
}

// Open fails: this build has no cgo, and PC/SC on Linux needs libpcsclite.
func Open(Options) (drivers.System, error) {
	return nil, fmt.Errorf("pcsc: built without cgo: %w", drivers.ErrUnsupported)
}

//go:build !linux

package demo

import (
	"errors"
	"os"
)

// openPty is not available here: the counter's payments take the code through the
// local API instead (see Controls.pay).
func openPty() (*os.File, string, error) {
	return nil, "", errors.New("no pseudo-terminals on this system")
}

package qrscan

import (
	"fmt"
	"io"
	"os"
)

// openStdin opens standard input anew through /proc: a pipe or terminal opened this way
// is a new open file description that Go polls, so Close unblocks a pending Read without
// changing fd 0's own mode (the shell's terminal stays blocking).
func openStdin() (io.ReadCloser, error) {
	f, err := os.Open("/proc/self/fd/0")
	if err != nil {
		return nil, fmt.Errorf("qrscan: open standard input: %w", err)
	}
	return ended{f}, nil
}

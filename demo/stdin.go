package demo

import (
	"io"
	"os"
	"runtime"
)

// openConsole returns the process's standard input as the console. On Linux it is opened
// anew through /proc: a new open file description that Go polls, so closing it ends a
// pending read (Run closes the console when it returns) without changing the terminal's
// mode. Elsewhere it is os.Stdin itself, not an io.Closer: a read of it cannot be
// interrupted, and it ends with the process.
func openConsole() io.Reader {
	if runtime.GOOS == "linux" {
		if f, err := os.Open("/proc/self/fd/0"); err == nil {
			return f
		}
	}
	return readerOnly{os.Stdin}
}

// readerOnly hides a reader's Close.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

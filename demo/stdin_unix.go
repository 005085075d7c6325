//go:build unix

package demo

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// takeStdin puts a pipe in place of the process's standard input, for the agent's stdin
// scanner, and returns its write end, the console (the original standard input; nil
// when there was none) and a function that puts the original back.
//
// On Linux the console is opened anew through /proc: a new open file description that
// Go polls, so closing it ends a pending read without changing the terminal's mode.
// Elsewhere it is not an io.Closer: a read of the terminal cannot be interrupted, and it
// ends with the process.
func takeStdin() (scan *os.File, console io.Reader, restore func(), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo: stdin pipe: %w", err)
	}
	defer r.Close() // fd 0 keeps the pipe open
	orig, derr := unix.Dup(0)
	if err := unix.Dup2(int(r.Fd()), 0); err != nil {
		w.Close()
		if derr == nil {
			unix.Close(orig)
		}
		return nil, nil, nil, fmt.Errorf("demo: stdin: %w", err)
	}
	restore = func() {
		if derr == nil {
			_ = unix.Dup2(orig, 0)
			unix.Close(orig)
		} else {
			unix.Close(0)
		}
		w.Close()
	}
	if derr != nil {
		return w, nil, restore, nil // no standard input: no console
	}
	if runtime.GOOS == "linux" {
		if f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", orig)); err == nil {
			return w, f, restore, nil
		}
	}
	return w, fdReader(orig), restore, nil
}

// fdReader reads a file descriptor it does not own (not an io.Closer).
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

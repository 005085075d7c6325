package demo

import (
	"fmt"
	"io"
	"os"
)

// takeStdin puts a pipe in place of os.Stdin, which the agent's stdin scanner reads,
// and returns its write end, the console (the original standard input, not an
// io.Closer: a console read cannot be interrupted, it ends with the process) and a
// function that puts the original back.
func takeStdin() (scan *os.File, console io.Reader, restore func(), err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("demo: stdin pipe: %w", err)
	}
	orig := os.Stdin
	os.Stdin = r
	restore = func() {
		os.Stdin = orig
		w.Close()
		r.Close()
	}
	return w, readerOnly{orig}, restore, nil
}

type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

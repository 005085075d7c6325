//go:build !linux

package qrscan

import (
	"io"
	"os"
	"sync"
)

// openStdin reads standard input through a helper goroutine, because a blocking read of
// fd 0 cannot be interrupted here: Close returns at once, and the helper ends at the next
// line or at end of input.
func openStdin() (io.ReadCloser, error) {
	return &stdinReader{data: make(chan stdinChunk), closed: make(chan struct{})}, nil
}

type stdinChunk struct {
	b   []byte
	err error
}

type stdinReader struct {
	once   sync.Once
	data   chan stdinChunk
	closed chan struct{}
	rest   []byte
	err    error // the error that came with the last chunk, returned once rest is read
	start  sync.Once
}

func (r *stdinReader) Read(p []byte) (int, error) {
	r.start.Do(func() {
		go func() { // ends at end of input, on an error, or at the first read after Close
			for {
				b := make([]byte, 4096)
				n, err := os.Stdin.Read(b)
				if err == io.EOF {
					err = ErrEnded
				}
				select {
				case r.data <- stdinChunk{b[:n], err}:
				case <-r.closed:
					return
				}
				if err != nil {
					return
				}
			}
		}()
	})
	if len(r.rest) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		select {
		case c := <-r.data:
			r.rest, r.err = c.b, c.err
			if len(c.b) == 0 {
				return 0, c.err
			}
		case <-r.closed:
			return 0, os.ErrClosed
		}
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

func (r *stdinReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

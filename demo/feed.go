package demo

import (
	"fmt"
	"io"
	"sync"
)

// lineFeed hands codes to a scanner's device as lines: the console scanner's standard
// input (a pipe) or the counter scanner's pseudo-terminal. The agent's scanner frames,
// checks and classifies them as it would a real scanner's output.
type lineFeed struct {
	name string
	eol  string

	mu sync.Mutex // guards w: one line at a time
	w  io.Writer
}

func newLineFeed(name string, w io.Writer, eol string) *lineFeed {
	return &lineFeed{name: name, w: w, eol: eol}
}

// Scan writes code as one line.
func (f *lineFeed) Scan(code string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := io.WriteString(f.w, code+f.eol); err != nil {
		return fmt.Errorf("scanner %s: %w", f.name, err)
	}
	return nil
}

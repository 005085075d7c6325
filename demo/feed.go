package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/sscagent/sscagent/qrscan"
)

// lineFeed hands codes to a scanner's device as lines: the counter scanner's
// pseudo-terminal. The agent's scanner frames, checks and classifies them as it would a
// real scanner's output.
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

// pipeScanner is the console scanner's device: the agent opens it (it is the
// qrscan.Opener of agent.Options.Scanners) and the console writes codes to it, one line
// each. Every open makes a new pipe, so the agent can reopen it after closing it, as it
// reopens a replugged scanner.
type pipeScanner struct {
	name string

	mu sync.Mutex // guards w
	w  *os.File   // write end of the pipe the agent reads; nil until the first open
}

var _ qrscan.Opener = (*pipeScanner)(nil)

// errNotOpen is returned by Scan before the agent has opened the scanner.
var errNotOpen = errors.New("not open yet")

// Open implements qrscan.Opener.
func (p *pipeScanner) Open(context.Context) (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("scanner %s: %w", p.name, err)
	}
	p.mu.Lock()
	if p.w != nil {
		p.w.Close()
	}
	p.w = w
	p.mu.Unlock()
	return r, nil
}

// Scan writes code as one line to the pipe the agent reads.
func (p *pipeScanner) Scan(code string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w == nil {
		return fmt.Errorf("scanner %s: %w", p.name, errNotOpen)
	}
	if _, err := io.WriteString(p.w, code+"\n"); err != nil {
		return fmt.Errorf("scanner %s: %w", p.name, err)
	}
	return nil
}

// Close closes the write end: the agent's scanner reads the end of its input.
func (p *pipeScanner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil {
		p.w.Close()
		p.w = nil
	}
}

package mgmt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/atomicfile"
)

// epochs is the persisted session counter (Sparkplug's bdSeq, but never wrapping): it is
// incremented and made durable before every CONNECT, so the will registered with a
// connection and the birth sent on it carry a number no earlier connection used, even
// across crashes and power loss.
type epochs struct {
	path    string
	last    uint64
	damaged error // set when the file could not be read back; logged once
}

func openEpochs(dir string) (*epochs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mgmt: state dir: %w", err)
	}
	e := &epochs{path: filepath.Join(dir, "epoch")}
	b, err := os.ReadFile(e.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return e, nil
	case err != nil:
		return nil, fmt.Errorf("mgmt: epoch: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		// A damaged counter must not go backwards: a reused epoch would make a fresh
		// death look stale. Continue from the clock in milliseconds, far above any
		// count of connections, and say so.
		e.last = uint64(time.Now().UnixMilli())
		e.damaged = fmt.Errorf("epoch file %s was damaged (%q); continuing from %d", e.path, b, e.last)
		return e, nil
	}
	e.last = n
	return e, nil
}

// next returns a new epoch, durable on return.
func (e *epochs) next() (uint64, error) {
	n := e.last + 1
	if err := atomicfile.Write(e.path, []byte(strconv.FormatUint(n, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("mgmt: epoch: %w", err)
	}
	e.last = n
	return n, nil
}

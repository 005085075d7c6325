package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// File is a log file that rotates by size: when a write would take it past its limit,
// FILE becomes FILE.1 (FILE.1 becomes FILE.2, and so on; the oldest beyond keep is
// deleted) and a new FILE is started. It is where a service's log goes when nothing
// collects its standard error (a Windows service) or when log.file asks for one; the
// disk it can take is bounded by limit × (keep + 1).
type File struct {
	mu    sync.Mutex // guards the fields below
	path  string
	limit int64
	keep  int
	f     *os.File
	size  int64
}

// OpenFile opens (appending) or creates path and its directory (0700; the file 0600:
// logs are masked, but they are the terminal's). limit is the size in bytes at which
// the file rotates, keep how many old files stay.
func OpenFile(path string, limit int64, keep int) (*File, error) {
	if limit <= 0 || keep < 0 {
		return nil, fmt.Errorf("log file %s: limit %d, keep %d: want a positive limit and keep >= 0", path, limit, keep)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	lf := &File{path: path, limit: limit, keep: keep}
	if err := lf.open(); err != nil {
		return nil, err
	}
	return lf, nil
}

func (lf *File) open() error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	lf.f, lf.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past its limit (a file
// holds at least one write, however long).
func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, os.ErrClosed
	}
	if lf.size > 0 && lf.size+int64(len(p)) > lf.limit {
		if err := lf.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := lf.f.Write(p)
	lf.size += int64(n)
	return n, err
}

// rotate shifts the old files up by one and starts a new file.
func (lf *File) rotate() error {
	if err := lf.f.Close(); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	lf.f = nil
	if lf.keep == 0 {
		if err := os.Remove(lf.path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("log file: %w", err)
		}
	} else {
		_ = os.Remove(fmt.Sprintf("%s.%d", lf.path, lf.keep))
		for i := lf.keep - 1; i >= 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", lf.path, i), fmt.Sprintf("%s.%d", lf.path, i+1))
		}
		// Windows cannot rename a file another process holds open; the writes then go
		// on in the full file rather than being lost.
		if err := os.Rename(lf.path, lf.path+".1"); err != nil {
			return lf.open()
		}
	}
	return lf.open()
}

// Close closes the file.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	err := lf.f.Close()
	lf.f = nil
	return err
}

// Package boltstore is the durable file under sscagent's record queue and payment store:
// one bbolt database opened with a lock timeout, checked for integrity at start, moved
// aside and salvaged when it is corrupt (never a crash loop), versioned with a schema
// number and upgrades, written through a group committer that fsyncs every write before
// it returns while sharing one fsync among concurrent writers, and numbered with
// persisted counters that are never reused, not even after the file is lost.
//
// It is internal: its API shows bbolt transactions to the two packages built on it
// (queue and payment), which keep bbolt out of their own exported APIs.
//
// # Layout it reserves
//
//	meta/                    bucket owned by boltstore
//	  schema   -> uint32 BE  schema version of the owning package
//	  created  -> RFC 3339   when this file was created
//	  seq.NAME -> uint64 BE  last value handed out by counter NAME
//	  recovery -> JSON       the recoveries that led to this file (moved-aside originals)
//
// Every other top-level bucket belongs to the owning package.
//
// # Counters that survive the loss of the file
//
// Sequence numbers become record ids and order numbers that the platform de-duplicates
// on, so a number handed out once must never be handed out again, even when the file
// is corrupt and replaced, or deleted by a reinstall. Two guards make that so. A sidecar
// file (PATH.seq) holds a high-water mark above every number handed out; it is rewritten
// (fsynced) each time a counter passes it, in blocks of ReserveBlock. And a new file
// starts every counter above both the sidecar's mark and a floor taken from the clock
// (microseconds since 2020-01-01 UTC), so that a fresh start with the sidecar lost too
// still begins above anything an earlier file can have used, unless the clock is wrong.
package boltstore

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Errors of Open and Update.
var (
	// ErrLocked means another process holds the file (a running agent, usually).
	ErrLocked = errors.New("database is locked by another process")
	// ErrNewerSchema means the file was written by a newer sscagent; it is left alone.
	ErrNewerSchema = errors.New("database was written by a newer version")
	// ErrClosed is returned by Update after Close.
	ErrClosed = errors.New("database closed")
	// ErrCorrupt is returned by a read-only Open of a corrupt file (a writable Open
	// recovers instead).
	ErrCorrupt = errors.New("database file is corrupt")
)

// Options configure Open. The zero value is usable apart from Schema.
type Options struct {
	// Schema is the owning package's layout. Required.
	Schema Schema
	// LockTimeout bounds the wait for the file lock. Default 5s.
	LockTimeout time.Duration
	// ReadOnly opens an existing file with a shared lock, for operator commands: the
	// file is never created, upgraded, recovered or written.
	ReadOnly bool
	// MaxBatch bounds the writes one group commit carries. Default 256.
	MaxBatch int
	// Logger receives recovery reports; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DB is an open store file.
type DB struct {
	b        *bolt.DB
	path     string
	readOnly bool
	now      func() time.Time
	log      *slog.Logger
	maxBatch int

	recovered *Recovery // the recovery done by this Open, if any

	ops     chan *op
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once
	commits atomic.Uint64

	mu       sync.Mutex        // guards reserved
	reserved map[string]uint64 // sidecar marks: every number handed out is below
}

// Open opens (creating if needed) the store at path. A corrupt file is moved aside to
// PATH.corrupt-TIMESTAMP, what can be read of it is copied into a fresh file, and the
// recovery is recorded in the new file (Recoveries); the caller reports it. A file held
// by another process gives ErrLocked after LockTimeout.
func Open(path string, o Options) (*DB, error) {
	if o.Schema.Version < 1 || o.Schema.Init == nil {
		return nil, errors.New("boltstore: schema version and init are required")
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &DB{path: path, readOnly: o.ReadOnly, now: o.Now, log: o.Logger, maxBatch: o.MaxBatch}
	if o.ReadOnly {
		b, err := openChecked(path, o, false)
		if err != nil {
			return nil, err
		}
		d.b = b
		if err := d.checkSchema(o.Schema); err != nil {
			_ = b.Close()
			return nil, err
		}
		return d, nil
	}
	marks, err := readSidecar(path + ".seq")
	if err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	d.reserved = marks
	b, err := openChecked(path, o, true)
	var rec *Recovery
	if errors.Is(err, ErrCorrupt) {
		rec, b, err = recoverFile(path, o, err)
	}
	if err != nil {
		return nil, err
	}
	d.b = b
	if err := d.prepare(o.Schema, rec); err != nil {
		_ = b.Close()
		return nil, err
	}
	d.recovered = rec
	if rec != nil {
		d.log.Error("corrupt store moved aside and replaced", "path", path, "movedTo", rec.MovedTo,
			"cause", rec.Cause, "salvaged", rec.Salvaged, "lostBuckets", rec.Lost)
	}
	d.ops = make(chan *op, o.MaxBatch)
	d.closing = make(chan struct{})
	d.stopped = make(chan struct{})
	go d.commitLoop()
	return d, nil
}

// openChecked opens the bbolt file and verifies its structure. Corruption (bbolt's own
// errors, a failed check, a panic or memory fault while reading) wraps ErrCorrupt; a
// held lock is ErrLocked; anything else (permissions, no space) is returned as is, so
// that a good file is never moved aside for a passing problem.
func openChecked(path string, o Options, check bool) (b *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if b != nil {
				_ = b.Close()
			}
			b, err = nil, fmt.Errorf("%w: %s: panic while reading: %v", ErrCorrupt, path, r)
		}
	}()
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("boltstore: %w", err)
		}
	}
	b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: o.LockTimeout, ReadOnly: o.ReadOnly})
	if err != nil {
		return nil, classifyOpen(path, o.LockTimeout, err)
	}
	if !check {
		return b, nil
	}
	var problems []string
	err = b.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, e.Error())
			}
		}
		return nil
	})
	if err == nil && len(problems) > 0 {
		err = fmt.Errorf("%w: %s: integrity check: %s", ErrCorrupt, path, strings.Join(problems, "; "))
	}
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func classifyOpen(path string, timeout time.Duration, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("boltstore: %s: %w (waited %s; is the agent running?)", path, ErrLocked, timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), strings.Contains(err.Error(), "file size too small"):
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("boltstore: %s: %w", path, err)
	default:
		return fmt.Errorf("boltstore: open %s: %w", path, err)
	}
}

// Path returns the file's path.
func (d *DB) Path() string { return d.path }

// FileSize returns the size of the file on disk (bbolt files grow and never shrink; freed
// pages are reused).
func (d *DB) FileSize() int64 {
	fi, err := os.Stat(d.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Commits counts the transactions committed by Update since Open (for benchmarks).
func (d *DB) Commits() uint64 { return d.commits.Load() }

// View runs fn in a read-only transaction. Values are valid only inside fn.
func (d *DB) View(fn func(tx *bolt.Tx) error) error { return d.b.View(fn) }

// Close waits for the writes already submitted, then closes the file.
func (d *DB) Close() error {
	if d.readOnly {
		return d.b.Close()
	}
	d.once.Do(func() { close(d.closing) })
	<-d.stopped
	return d.b.Close()
}

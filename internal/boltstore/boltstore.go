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
	"context"
	"encoding/binary"
	"encoding/json"
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

var metaBucket = []byte("meta")

// ReserveBlock is how far above the last handed-out number the sidecar mark is set.
const ReserveBlock = 1 << 16

// Schema describes the owning package's layout.
type Schema struct {
	// Version is the current schema version, 1 or more.
	Version int
	// Init creates the current layout in a new file. It must be idempotent (create
	// buckets if they do not exist): it also repairs a salvaged file.
	Init func(tx *bolt.Tx) error
	// Upgrades[v] upgrades a file of version v to v+1; a missing step is an error.
	Upgrades map[int]func(tx *bolt.Tx) error
}

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

// Recovery reports a corrupt file that was moved aside and replaced.
type Recovery struct {
	// At is when it happened.
	At time.Time `json:"at"`
	// MovedTo is where the corrupt file now is (kept for manual recovery).
	MovedTo string `json:"movedTo"`
	// Cause is what was found wrong.
	Cause string `json:"cause"`
	// Salvaged counts the entries copied from the corrupt file into the new one.
	Salvaged int `json:"salvaged"`
	// Lost counts the buckets that could not be read completely (0: everything readable
	// was copied; the cause may still have cost the last transaction).
	Lost int `json:"lost"`
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

// recoverFile moves the corrupt file aside, opens a fresh one and copies what it can.
func recoverFile(path string, o Options, cause error) (*Recovery, *bolt.DB, error) {
	now := o.Now()
	moved := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405.000000000"))
	if err := os.Rename(path, moved); err != nil {
		return nil, nil, fmt.Errorf("boltstore: move corrupt file aside: %w (cause: %v)", err, cause)
	}
	syncDir(path)
	b, err := openChecked(path, o, false)
	if err != nil {
		return nil, nil, err
	}
	rec := &Recovery{At: now, MovedTo: moved, Cause: cause.Error()}
	rec.Salvaged, rec.Lost = salvage(moved, b)
	return rec, b, nil
}

// salvage copies every readable bucket and key of the file at from into dst. A panic or
// memory fault while reading a bucket ends that bucket's copy; what was read is kept.
func salvage(from string, dst *bolt.DB) (copied, lost int) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	src, err := func() (b *bolt.DB, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return bolt.Open(from, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	}()
	if err != nil {
		return 0, 1
	}
	defer src.Close()
	_ = dst.Update(func(out *bolt.Tx) error {
		_ = src.View(func(in *bolt.Tx) error {
			var names [][]byte
			func() {
				defer func() {
					if recover() != nil {
						lost++
					}
				}()
				_ = in.ForEach(func(name []byte, _ *bolt.Bucket) error {
					names = append(names, append([]byte(nil), name...))
					return nil
				})
			}()
			for _, name := range names {
				ob, err := out.CreateBucketIfNotExists(name)
				if err != nil {
					lost++
					continue
				}
				n, ok := copyBucket(in.Bucket(name), ob)
				copied += n
				if !ok {
					lost++
				}
			}
			return nil
		})
		return nil
	})
	return copied, lost
}

// copyBucket copies src into dst recursively; ok is false when a read failed. After a
// failure going forward it copies backwards from the end, so that one damaged page costs
// only the entries behind it.
func copyBucket(src, dst *bolt.Bucket) (n int, ok bool) {
	if src == nil {
		return 0, false
	}
	n, ok = copyEntries(src, dst, false)
	if !ok {
		m, _ := copyEntries(src, dst, true)
		n += m
	}
	if seq := src.Sequence(); seq > dst.Sequence() {
		_ = dst.SetSequence(seq)
	}
	return n, ok
}

func copyEntries(src, dst *bolt.Bucket, backwards bool) (n int, ok bool) {
	ok = true
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	c := src.Cursor()
	first, next := c.First, c.Next
	if backwards {
		first, next = c.Last, c.Prev
	}
	for k, v := first(); k != nil; k, v = next() {
		if backwards && dst.Get(k) != nil {
			break // met the part already copied going forward
		}
		if v == nil {
			sub, err := dst.CreateBucketIfNotExists(k)
			if err != nil {
				ok = false
				continue
			}
			m, subOK := copyBucket(src.Bucket(k), sub)
			n += m
			ok = ok && subOK
			continue
		}
		if dst.Put(append([]byte(nil), k...), append([]byte(nil), v...)) == nil {
			n++
		}
	}
	return n, ok
}

// prepare creates or upgrades the layout, raises the counters after a recovery and
// records the recovery.
func (d *DB) prepare(s Schema, rec *Recovery) error {
	return d.b.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("boltstore: %w", err)
		}
		v := m.Get([]byte("schema"))
		switch {
		case v == nil:
			// A new file, or salvaged data without its schema key: Init (idempotent)
			// creates what is missing.
			if err := s.Init(tx); err != nil {
				return fmt.Errorf("boltstore: init: %w", err)
			}
			if err := m.Put([]byte("created"), []byte(d.now().UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		default:
			if len(v) != 4 {
				return fmt.Errorf("boltstore: schema key has %d bytes", len(v))
			}
			have := int(binary.BigEndian.Uint32(v))
			if have > s.Version {
				return fmt.Errorf("boltstore: %s: %w (schema %d, this build reads up to %d)", d.path, ErrNewerSchema, have, s.Version)
			}
			for ; have < s.Version; have++ {
				up := s.Upgrades[have]
				if up == nil {
					return fmt.Errorf("boltstore: no upgrade from schema %d", have)
				}
				if err := up(tx); err != nil {
					return fmt.Errorf("boltstore: upgrade from schema %d: %w", have, err)
				}
			}
			if rec != nil {
				if err := s.Init(tx); err != nil { // recreate buckets lost with the corruption
					return fmt.Errorf("boltstore: init after recovery: %w", err)
				}
			}
		}
		if err := m.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, uint32(s.Version))); err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		if err := d.raiseCounters(m); err != nil {
			return err
		}
		var recs []Recovery
		_ = json.Unmarshal(m.Get([]byte("recovery")), &recs)
		recs = append(recs, *rec)
		if len(recs) > 10 {
			recs = recs[len(recs)-10:]
		}
		b, _ := json.Marshal(recs)
		return m.Put([]byte("recovery"), b)
	})
}

// raiseCounters sets every salvaged counter to at least its sidecar mark: the salvaged
// value may predate the corruption's lost transactions.
func (d *DB) raiseCounters(m *bolt.Bucket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, mark := range d.reserved {
		key := []byte("seq." + name)
		if v := m.Get(key); v == nil || binary.BigEndian.Uint64(pad8(v)) < mark {
			if err := m.Put(key, binary.BigEndian.AppendUint64(nil, mark)); err != nil {
				return err
			}
		}
	}
	return nil
}

func pad8(v []byte) []byte {
	if len(v) == 8 {
		return v
	}
	return make([]byte, 8)
}

func (d *DB) checkSchema(s Schema) error {
	return d.b.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(metaBucket)
		if m == nil {
			return fmt.Errorf("boltstore: %s: %w: no meta bucket", d.path, ErrCorrupt)
		}
		v := m.Get([]byte("schema"))
		if len(v) != 4 {
			return fmt.Errorf("boltstore: %s: %w: no schema version", d.path, ErrCorrupt)
		}
		if have := int(binary.BigEndian.Uint32(v)); have != s.Version {
			return fmt.Errorf("boltstore: %s: schema %d, this build reads %d; open it writable once to upgrade", d.path, have, s.Version)
		}
		return nil
	})
}

// Recoveries returns the recoveries recorded in this file, oldest first (at most 10).
func (d *DB) Recoveries() []Recovery {
	var recs []Recovery
	_ = d.b.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(metaBucket); m != nil {
			_ = json.Unmarshal(m.Get([]byte("recovery")), &recs)
		}
		return nil
	})
	return recs
}

// Recovered returns the recovery this Open performed, or nil when the file was sound.
func (d *DB) Recovered() *Recovery { return d.recovered }

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

// noWrite marks an op failure that left the transaction untouched.
type noWrite struct{ err error }

func (e noWrite) Error() string { return e.err.Error() }
func (e noWrite) Unwrap() error { return e.err }

// NoWrite wraps the error of an Update function that returns before writing anything:
// the function fails alone and the other writes of the same group commit go on. Any other
// error from a function makes the group commit run again without it.
func NoWrite(err error) error {
	if err == nil {
		return nil
	}
	return noWrite{err}
}

type op struct {
	fn    func(tx *bolt.Tx) error
	err   error
	done  chan struct{}
	state atomic.Int32 // opWaiting, opTaken, opAbandoned
}

const (
	opWaiting = iota
	opTaken
	opAbandoned
)

// Update runs fn in a write transaction and returns once the transaction is committed
// and synced to disk, or fn failed. Concurrent Updates share one transaction and one
// fsync (group commit): fn may run more than once, in a new transaction each time, so it
// must not have effects outside tx. A function that fails without writing should return
// NoWrite(err) so that the others in its group are not run again.
//
// When ctx ends before fn was taken into a transaction, Update returns ctx's error and
// fn never runs; once taken, Update waits for the commit, so a nil error always means
// durable and an error never hides a write that happened.
func (d *DB) Update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if d.readOnly {
		return fmt.Errorf("boltstore: %w", berrors.ErrDatabaseReadOnly)
	}
	o := &op{fn: fn, done: make(chan struct{})}
	select {
	case <-d.closing:
		return ErrClosed
	default:
	}
	select {
	case d.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-d.closing:
		return ErrClosed
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opWaiting, opAbandoned) {
			return ctx.Err()
		}
	case <-d.stopped:
		// Sent after the committer's last drain: it will never be taken.
		if o.state.CompareAndSwap(opWaiting, opAbandoned) {
			return ErrClosed
		}
	}
	<-o.done
	return o.err
}

// commitLoop takes every waiting op (no timer: a lone writer never waits for company),
// commits them in one transaction and wakes their callers.
func (d *DB) commitLoop() {
	defer close(d.stopped)
	batch := make([]*op, 0, d.maxBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-d.ops:
			batch = d.take(batch, o)
		case <-d.closing:
			// Drain what was submitted before Close, then stop.
			for {
				select {
				case o := <-d.ops:
					batch = d.take(batch, o)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				d.commit(batch)
			}
			return
		}
	more:
		for len(batch) < d.maxBatch {
			select {
			case o := <-d.ops:
				batch = d.take(batch, o)
			default:
				break more
			}
		}
		if len(batch) > 0 {
			d.commit(batch)
		}
	}
}

func (d *DB) take(batch []*op, o *op) []*op {
	if o.state.CompareAndSwap(opWaiting, opTaken) {
		return append(batch, o)
	}
	return batch
}

// commit runs batch in one transaction. A function that fails with a write pending is
// dropped and the transaction run again without it (as bbolt's Batch does).
func (d *DB) commit(batch []*op) {
	for len(batch) > 0 {
		failed := -1
		err := d.b.Update(func(tx *bolt.Tx) error {
			for i, o := range batch {
				o.err = nil
				if err := o.fn(tx); err != nil {
					var nw noWrite
					if errors.As(err, &nw) {
						o.err = nw.err
						continue
					}
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].err = err
			close(batch[failed].done)
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		if err == nil {
			d.commits.Add(1)
		}
		for _, o := range batch {
			if err != nil {
				o.err = fmt.Errorf("boltstore: commit: %w", err)
			}
			close(o.done)
		}
		return
	}
}

// Next returns the next value of the named counter, inside a write transaction of
// Update. Values are never reused (see the package documentation).
func (d *DB) Next(tx *bolt.Tx, name string) (uint64, error) {
	m := tx.Bucket(metaBucket)
	if m == nil {
		return 0, errors.New("boltstore: no meta bucket")
	}
	key := []byte("seq." + name)
	var cur uint64
	if v := m.Get(key); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	} else {
		cur = d.floor(name)
	}
	n := cur + 1
	if err := d.reserve(name, n); err != nil {
		return 0, err
	}
	if err := m.Put(key, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return 0, err
	}
	return n, nil
}

// FormatID writes a counter value as a stable id: prefix + "-" + 16 zero-padded digits
// (record ids and order numbers: terminal id + sequence).
func FormatID(prefix string, n uint64) string {
	return prefix + "-" + fmt.Sprintf("%016d", n)
}

// Peek returns the last value handed out by the named counter (0 if none yet).
func Peek(tx *bolt.Tx, name string) uint64 {
	if m := tx.Bucket(metaBucket); m != nil {
		if v := m.Get([]byte("seq." + name)); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
	}
	return 0
}

var floorEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// floor is where a counter new to this file starts: above the sidecar mark and the
// clock floor.
func (d *DB) floor(name string) uint64 {
	d.mu.Lock()
	mark := d.reserved[name]
	d.mu.Unlock()
	var clock uint64
	if us := d.now().Sub(floorEpoch).Microseconds(); us > 0 {
		clock = uint64(us)
	}
	return max(mark, clock)
}

// reserve makes sure the sidecar mark is at or above n before n is used.
func (d *DB) reserve(name string, n uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n <= d.reserved[name] {
		return nil
	}
	marks := make(map[string]uint64, len(d.reserved)+1)
	for k, v := range d.reserved {
		marks[k] = v
	}
	marks[name] = n + ReserveBlock
	if err := writeSidecar(d.path+".seq", marks); err != nil {
		return fmt.Errorf("boltstore: counter mark: %w", err)
	}
	d.reserved = marks
	return nil
}

func readSidecar(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	if err := json.Unmarshal(b, &m); err != nil {
		// A torn sidecar cannot happen (written by rename), but a damaged one must not
		// stop the agent: the clock floor still holds.
		return map[string]uint64{}, nil
	}
	return m, nil
}

// writeSidecar writes the marks durably: temp file, fsync, rename, fsync of the directory.
func writeSidecar(path string, marks map[string]uint64) error {
	b, err := json.Marshal(marks)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(path)
	return nil
}

package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
)

// SchemaVersion is the bucket layout this build writes (see the package documentation).
const SchemaVersion = 2

var (
	quarantineBucket = []byte("quarantine")
	qmetaBucket      = []byte("qmeta")
	keyCheckKey      = []byte("keycheck")
	keyCheckPlain    = []byte("sscagent queue key check v1")
)

// entryOverhead approximates bbolt's per-entry cost (leaf element header and page slack)
// in the byte accounting of the cap.
const entryOverhead = 16

// Options configure a Queue. Zero values pick the documented defaults.
type Options struct {
	// Terminal is the terminal id that prefixes every record id. Required to Put.
	Terminal string
	// Key is the 16-byte SM4 key that seals record bodies at rest (LoadKey). Required to
	// Put and to read bodies; metadata and statistics need none.
	Key []byte
	// MaxBytes caps the bytes held by queued and quarantined records (keys, values and a
	// small per-record overhead). The file itself can be up to about twice as large,
	// because bbolt pages are not full and the file never shrinks. Default 256 MiB.
	MaxBytes int64
	// ReserveBytes is the part of MaxBytes that new business may not use: it is kept for
	// records of business already done (Entry.Reserve), such as the C.4 record of a
	// payment that succeeded. Default MaxBytes/20.
	ReserveBytes int64
	// TelemetryMaxBytes is the telemetry lane's budget; beyond it the oldest telemetry is
	// dropped. Default MaxBytes/10.
	TelemetryMaxBytes int64
	// MaxRecordBytes bounds one record's body. Default 256 KiB.
	MaxRecordBytes int
	// IdempotencyTTL is how long an idempotency key (PutIdempotent) is remembered after
	// its record was stored, acknowledged or not. Default 24h.
	IdempotencyTTL time.Duration
	// MaxIdempotencyKeys bounds the keys remembered; beyond it the oldest are forgotten
	// before their time. Default 100 000 (about 10 MB).
	MaxIdempotencyKeys int
	// LockTimeout bounds the wait for the file lock. Default 5s.
	LockTimeout time.Duration
	// ReadOnly opens an existing file for operator commands: no writes, no recovery.
	ReadOnly bool
	// Logger receives recovery and drop reports; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Recovery reports a corrupt queue file that was moved aside and replaced.
type Recovery = boltstore.Recovery

// Queue is the durable record queue. It is safe for concurrent use.
type Queue struct {
	db    *boltstore.DB
	o     Options
	seal  *sealer
	idem  idemKeyer
	log   *slog.Logger
	now   func() time.Time
	added chan struct{}

	refused atomic.Uint64 // Puts refused for the cap since Open
}

// Open opens or creates the queue file at path. See the package documentation for what
// happens to a corrupt file; a file held by another process fails after LockTimeout with
// an error matching boltstore.ErrLocked (IsLocked reports it).
func Open(path string, o Options) (*Queue, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.ReserveBytes <= 0 {
		o.ReserveBytes = o.MaxBytes / 20
	}
	if o.TelemetryMaxBytes <= 0 {
		o.TelemetryMaxBytes = o.MaxBytes / 10
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = 256 << 10
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = 24 * time.Hour
	}
	if o.MaxIdempotencyKeys <= 0 {
		o.MaxIdempotencyKeys = 100_000
	}
	if o.ReserveBytes >= o.MaxBytes {
		return nil, fmt.Errorf("queue: reserve %d must be below the cap %d", o.ReserveBytes, o.MaxBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	q := &Queue{o: o, log: o.Logger, now: o.Now, added: make(chan struct{}, 1)}
	if o.Key != nil {
		s, err := newSealer(o.Key)
		if err != nil {
			return nil, err
		}
		q.seal, q.idem = s, newIdemKeyer(o.Key)
	}
	db, err := boltstore.Open(path, boltstore.Options{
		Schema: boltstore.Schema{Version: SchemaVersion, Init: initSchema, Upgrades: map[int]func(*bolt.Tx) error{
			1: initSchema, // version 2 adds the idempotency buckets
		}},
		LockTimeout: o.LockTimeout,
		ReadOnly:    o.ReadOnly,
		Logger:      o.Logger,
		Now:         o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q.db = db
	if err := q.startup(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return q, nil
}

// IsLocked reports whether Open failed because another process holds the file.
func IsLocked(err error) bool { return errors.Is(err, boltstore.ErrLocked) }

func initSchema(tx *bolt.Tx) error {
	for _, l := range Lanes {
		if _, err := tx.CreateBucketIfNotExists(l.bucket()); err != nil {
			return err
		}
	}
	for _, b := range [][]byte{quarantineBucket, qmetaBucket, idemBucket, idemAgeBucket} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// startup checks the key and, after a recovery, recounts the lanes (the salvaged
// counters may not match the salvaged records).
func (q *Queue) startup() error {
	recovered := q.db.Recovered() != nil
	if q.o.ReadOnly {
		if q.seal != nil {
			return q.db.View(func(tx *bolt.Tx) error { return q.checkKey(tx, false) })
		}
		return nil
	}
	return q.db.Update(context.Background(), func(tx *bolt.Tx) error {
		if q.seal != nil {
			if err := q.checkKey(tx, true); err != nil {
				return err
			}
		}
		if recovered {
			return recount(tx)
		}
		return nil
	})
}

func (q *Queue) checkKey(tx *bolt.Tx, write bool) error {
	m := tx.Bucket(qmetaBucket)
	v := m.Get(keyCheckKey)
	if v == nil {
		if !write {
			return nil
		}
		sealed, err := q.seal.seal(nil, keyCheckPlain, keyCheckKey)
		if err != nil {
			return err
		}
		return m.Put(keyCheckKey, sealed)
	}
	if _, err := q.seal.open(v, keyCheckKey); err != nil {
		return fmt.Errorf("queue: %w", ErrWrongKey)
	}
	return nil
}

// recount rebuilds the byte and record counters from the buckets.
func recount(tx *bolt.Tx) error {
	c := counters{}
	for _, l := range Lanes {
		_ = tx.Bucket(l.bucket()).ForEach(func(k, v []byte) error {
			c.add(l.String(), int64(len(k)+len(v)+entryOverhead))
			return nil
		})
	}
	_ = tx.Bucket(quarantineBucket).ForEach(func(k, v []byte) error {
		c.add("quarantine", int64(len(k)+len(v)+entryOverhead))
		return nil
	})
	m := tx.Bucket(qmetaBucket)
	if err := putU64(m, "count.idem", uint64(tx.Bucket(idemBucket).Stats().KeyN)); err != nil {
		return err
	}
	for _, name := range []string{"money", "identity", "telemetry", "quarantine"} {
		if err := putU64(m, "bytes."+name, uint64(c.bytes[name])); err != nil {
			return err
		}
		if err := putU64(m, "count."+name, uint64(c.count[name])); err != nil {
			return err
		}
	}
	return nil
}

type counters struct {
	bytes map[string]int64
	count map[string]int64
}

func (c *counters) add(name string, n int64) {
	if c.bytes == nil {
		c.bytes, c.count = map[string]int64{}, map[string]int64{}
	}
	c.bytes[name] += n
	c.count[name]++
}

func getU64(b *bolt.Bucket, key string) uint64 {
	if v := b.Get([]byte(key)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putU64(b *bolt.Bucket, key string, v uint64) error {
	return b.Put([]byte(key), binary.BigEndian.AppendUint64(nil, v))
}

// adjust changes the byte and record counters of name (a lane or "quarantine").
func adjust(m *bolt.Bucket, name string, bytes int64, records int64) error {
	b := int64(getU64(m, "bytes."+name)) + bytes
	n := int64(getU64(m, "count."+name)) + records
	if err := putU64(m, "bytes."+name, uint64(max(b, 0))); err != nil {
		return err
	}
	return putU64(m, "count."+name, uint64(max(n, 0)))
}

func used(m *bolt.Bucket) int64 {
	var u int64
	for _, n := range []string{"money", "identity", "telemetry", "quarantine"} {
		u += int64(getU64(m, "bytes."+n))
	}
	return u
}

// FormatID returns the stable record id for a terminal and sequence number.
func FormatID(terminal string, seq uint64) string { return boltstore.FormatID(terminal, seq) }

func (q *Queue) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if q.o.ReadOnly {
		return ErrReadOnly
	}
	if err := q.db.Update(ctx, fn); err != nil {
		return fmt.Errorf("queue: %s: %w", op, err)
	}
	return nil
}

// Path returns the queue file's path.
func (q *Queue) Path() string { return q.db.Path() }

// Close waits for pending writes and closes the file.
func (q *Queue) Close() error { return q.db.Close() }

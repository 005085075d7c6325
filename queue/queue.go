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
	"github.com/sscagent/sscagent/internal/mask"
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

// Entry is a record to Put.
type Entry struct {
	// Lane decides the drop policy: LaneMoney, LaneIdentity or LaneTelemetry.
	Lane Lane
	// Kind names the record type for the uploader ("credential", "payment", "benefit",
	// "event"): 1-32 printable ASCII characters.
	Kind string
	// Body is the record, already validated at the door; the queue does not look inside.
	Body []byte
	// Reserve lets the record use the reserve kept for business already done (a payment
	// that succeeded must be recorded even when new business is refused).
	Reserve bool
}

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

// Put stores e durably and returns its stable id. It returns after fsync; a nil error
// means the record survives a crash from then on. A full queue gives a *FullError
// (ErrFull) for new business; telemetry over its budget makes room by dropping the
// oldest telemetry.
func (q *Queue) Put(ctx context.Context, e Entry) (string, error) {
	id, _, err := q.put(ctx, e, "")
	return id, err
}

// PutIdempotent is Put with an idempotency key (1-64 printable ASCII characters, chosen
// by the client): the first Put with a key stores the record; a later one with the same
// key and the same entry stores nothing and returns the first record's id with replayed
// true, also after the record was acknowledged and deleted, for Options.IdempotencyTTL.
// The same key with a different entry is ErrConflict.
func (q *Queue) PutIdempotent(ctx context.Context, e Entry, key string) (id string, replayed bool, err error) {
	if err := validIdemKey(key); err != nil {
		return "", false, fmt.Errorf("queue: put: %w", err)
	}
	return q.put(ctx, e, key)
}

func (q *Queue) put(ctx context.Context, e Entry, key string) (string, bool, error) {
	if q.o.ReadOnly {
		return "", false, ErrReadOnly
	}
	if q.seal == nil {
		return "", false, fmt.Errorf("queue: put: %w", ErrNoKey)
	}
	if q.o.Terminal == "" {
		return "", false, fmt.Errorf("queue: put: %w: no terminal id", ErrInvalid)
	}
	if err := validEntry(e, q.o.MaxRecordBytes); err != nil {
		return "", false, err
	}
	var sk []byte
	var fp [32]byte
	if key != "" {
		sk, fp = q.idem.storedKey(key), q.idem.fingerprint(e)
	}
	h := header{lane: e.Lane, flags: flagSealed, created: q.now().UnixMilli(), kind: e.Kind}
	var id string
	var replayed bool
	dropped := 0
	err := q.db.Update(ctx, func(tx *bolt.Tx) error {
		dropped, replayed = 0, false
		if sk != nil {
			prev, found, err := q.lookupIdem(tx, sk, fp)
			if err != nil {
				return boltstore.NoWrite(err)
			}
			if found {
				id, replayed = prev, true
				return boltstore.NoWrite(nil)
			}
		}
		m := tx.Bucket(qmetaBucket)
		// The size does not depend on the sequence number, so the cap is checked before
		// anything is written and a refusal leaves the transaction untouched.
		idLen := len(FormatID(q.o.Terminal, boltstore.Peek(tx, "record")+1))
		size := int64(8+entryOverhead+sealOverhead+len(e.Body)) + int64(h.sizeWithID(idLen))
		n, err := q.makeRoom(tx, m, e, size)
		if err != nil {
			return boltstore.NoWrite(err)
		}
		dropped = n
		seq, err := q.db.Next(tx, "record")
		if err != nil {
			return err
		}
		rec := h
		rec.id = FormatID(q.o.Terminal, seq)
		value := rec.encode(make([]byte, 0, int(size)), nil)
		if value, err = q.seal.seal(value, e.Body, sealAD(e.Lane, seq)); err != nil {
			return err
		}
		if err := tx.Bucket(e.Lane.bucket()).Put(seqKey(seq), value); err != nil {
			return err
		}
		id = rec.id
		if err := adjust(m, e.Lane.String(), int64(8+len(value)+entryOverhead), 1); err != nil {
			return err
		}
		if sk != nil {
			return q.storeIdem(tx, sk, idemValue{created: h.created, seq: seq, fp: fp, id: id})
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrFull) {
			q.refused.Add(1)
		}
		return "", false, fmt.Errorf("queue: put: %w", err)
	}
	if replayed {
		return id, true, nil
	}
	if dropped > 0 {
		q.log.Warn("telemetry dropped to make room", "dropped", dropped, "code", CodeTelemetryDropped)
	}
	select {
	case q.added <- struct{}{}:
	default:
	}
	return id, false, nil
}

func (h header) sizeWithID(idLen int) int {
	return fixedHeader + uvarintLen(len(h.kind)) + len(h.kind) + uvarintLen(idLen) + idLen + uvarintLen(0)
}

func validEntry(e Entry, maxBody int) error {
	if !e.Lane.Valid() {
		return fmt.Errorf("queue: put: %w: lane %v", ErrInvalid, e.Lane)
	}
	if len(e.Kind) == 0 || len(e.Kind) > MaxKindLen {
		return fmt.Errorf("queue: put: %w: kind must be 1-%d characters", ErrInvalid, MaxKindLen)
	}
	for i := 0; i < len(e.Kind); i++ {
		if c := e.Kind[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("queue: put: %w: kind must be printable ASCII", ErrInvalid)
		}
	}
	if len(e.Body) == 0 {
		return fmt.Errorf("queue: put: %w: empty body", ErrInvalid)
	}
	if len(e.Body) > maxBody {
		return fmt.Errorf("queue: put: %w: %d bytes, limit %d", ErrTooLarge, len(e.Body), maxBody)
	}
	return nil
}

// makeRoom checks the cap for a record of size bytes and drops the oldest telemetry when
// that makes it fit. It writes nothing when it fails.
func (q *Queue) makeRoom(tx *bolt.Tx, m *bolt.Bucket, e Entry, size int64) (dropped int, err error) {
	u := used(m)
	tel := int64(getU64(m, "bytes.telemetry"))
	limit := q.o.MaxBytes - q.o.ReserveBytes
	if e.Reserve {
		limit = q.o.MaxBytes
	}
	var drop int64 // telemetry bytes to drop
	if u+size > limit {
		drop = u + size - limit
	}
	if e.Lane == LaneTelemetry {
		if size > q.o.TelemetryMaxBytes {
			return 0, fmt.Errorf("%w: telemetry record of %d bytes exceeds the lane budget", ErrTooLarge, size)
		}
		drop = max(drop, tel+size-q.o.TelemetryMaxBytes)
	}
	if drop > tel {
		return 0, &FullError{Lane: e.Lane, Used: u, Limit: limit, Cap: q.o.MaxBytes}
	}
	if drop <= 0 {
		return 0, nil
	}
	b := tx.Bucket(LaneTelemetry.bucket())
	c := b.Cursor()
	var freed int64
	var keys [][]byte
	for k, v := c.First(); k != nil && freed < drop; k, v = c.Next() {
		freed += int64(len(k) + len(v) + entryOverhead)
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	if err := adjust(m, "telemetry", -freed, -int64(len(keys))); err != nil {
		return 0, err
	}
	if err := putU64(m, "dropped.telemetry", getU64(m, "dropped.telemetry")+uint64(len(keys))); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// Accepting reports whether new business of lane would be accepted now: nil, or a
// *FullError. The agent asks before it starts a payment or an authentication, so that a
// full terminal refuses before anything happens rather than after.
func (q *Queue) Accepting(lane Lane) error {
	var err error
	_ = q.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(qmetaBucket)
		u := used(m)
		if lane != LaneTelemetry {
			u -= int64(getU64(m, "bytes.telemetry")) // telemetry makes room
		}
		limit := q.o.MaxBytes - q.o.ReserveBytes
		if u+4096 > limit {
			err = &FullError{Lane: lane, Used: used(m), Limit: limit, Cap: q.o.MaxBytes}
		}
		return nil
	})
	return err
}

// Added is signalled (without blocking, coalesced) after each successful Put. The
// uploader waits on it to drain as soon as there is something to send.
func (q *Queue) Added() <-chan struct{} { return q.added }

// Oldest returns up to max records, oldest first across all lanes, with their bodies
// decrypted, skipping the sequence numbers for which skip reports true (records already
// being uploaded). A record that cannot be read back comes with Damaged set.
func (q *Queue) Oldest(ctx context.Context, max int, skip func(seq uint64) bool) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if q.seal == nil {
		return nil, fmt.Errorf("queue: read: %w", ErrNoKey)
	}
	return q.scan(Lanes, max, skip, true)
}

// scan merges the lanes' cursors by sequence number: oldest first across lanes.
func (q *Queue) scan(lanes []Lane, max int, skip func(seq uint64) bool, withBody bool) ([]Record, error) {
	var out []Record
	err := q.db.View(func(tx *bolt.Tx) error {
		type cur struct {
			c    *bolt.Cursor
			k, v []byte
		}
		var cs []*cur
		for _, l := range lanes {
			c := tx.Bucket(l.bucket()).Cursor()
			k, v := c.First()
			cs = append(cs, &cur{c, k, v})
		}
		for len(out) < max {
			var best *cur
			for _, c := range cs {
				if c.k != nil && (best == nil || string(c.k) < string(best.k)) {
					best = c
				}
			}
			if best == nil {
				return nil
			}
			seq, _ := keySeq(best.k)
			if skip == nil || !skip(seq) {
				out = append(out, q.readRecord(best.k, best.v, withBody))
			}
			best.k, best.v = best.c.Next()
		}
		return nil
	})
	return out, err
}

// readRecord decodes a lane value; withBody decrypts the body.
func (q *Queue) readRecord(k, v []byte, withBody bool) Record {
	seq, ok := keySeq(k)
	r := Record{Seq: seq}
	if !ok {
		r.Damaged = "malformed key"
		return r
	}
	h, body, err := decodeHeader(v)
	if err != nil {
		r.Damaged = err.Error()
		return r
	}
	r.ID, r.Lane, r.Kind = h.id, h.lane, h.kind
	r.Created = time.UnixMilli(h.created)
	r.Attempts, r.LastError = int(h.attempts), h.lastErr
	if !withBody {
		return r
	}
	if h.flags&flagSealed == 0 {
		r.Body = append([]byte(nil), body...)
		return r
	}
	if q.seal == nil {
		r.Damaged = ErrNoKey.Error()
		return r
	}
	p, err := q.seal.open(body, sealAD(h.lane, seq))
	if err != nil {
		r.Damaged = err.Error()
		return r
	}
	r.Body = p
	return r
}

// find returns the lane bucket holding seq, or nil.
func findLane(tx *bolt.Tx, seq uint64) (*bolt.Bucket, Lane, []byte) {
	k := seqKey(seq)
	for _, l := range Lanes {
		b := tx.Bucket(l.bucket())
		if v := b.Get(k); v != nil {
			return b, l, v
		}
	}
	return nil, 0, nil
}

// Ack deletes the records the platform acknowledged. Sequence numbers no longer queued
// (acknowledged before, or quarantined meanwhile) are ignored.
func (q *Queue) Ack(ctx context.Context, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	return q.update(ctx, "ack", func(tx *bolt.Tx) error {
		m := tx.Bucket(qmetaBucket)
		for _, seq := range seqs {
			b, l, v := findLane(tx, seq)
			if b == nil {
				continue
			}
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
			if err := adjust(m, l.String(), -int64(8+len(v)+entryOverhead), -1); err != nil {
				return err
			}
		}
		return nil
	})
}

// Retry records a failed upload of the records: their attempt count goes up and reason
// (masked, truncated) is kept as their last error. They stay queued.
func (q *Queue) Retry(ctx context.Context, reason string, seqs ...uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	reason = truncate(mask.Text(reason), maxErrLen)
	return q.update(ctx, "retry", func(tx *bolt.Tx) error {
		m := tx.Bucket(qmetaBucket)
		for _, seq := range seqs {
			b, l, v := findLane(tx, seq)
			if b == nil {
				continue
			}
			h, body, err := decodeHeader(v)
			if err != nil {
				continue // damaged: left for the uploader to quarantine
			}
			if h.attempts < ^uint32(0) {
				h.attempts++
			}
			h.lastErr = reason
			nv := h.encode(make([]byte, 0, h.size()+len(body)), body)
			if err := b.Put(seqKey(seq), nv); err != nil {
				return err
			}
			if err := adjust(m, l.String(), int64(len(nv)-len(v)), 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// Quarantine moves a record the platform rejected for good out of its lane, keeping the
// reason (masked, truncated) and the time. It no longer uploads; Release re-queues it.
func (q *Queue) Quarantine(ctx context.Context, seq uint64, reason string) error {
	reason = truncate(mask.Text(reason), maxErrLen)
	at := q.now().UnixMilli()
	return q.update(ctx, "quarantine", func(tx *bolt.Tx) error {
		b, l, v := findLane(tx, seq)
		if b == nil {
			return nil
		}
		m := tx.Bucket(qmetaBucket)
		qv := encodeQuarantined(at, reason, v)
		if err := tx.Bucket(quarantineBucket).Put(seqKey(seq), qv); err != nil {
			return err
		}
		if err := b.Delete(seqKey(seq)); err != nil {
			return err
		}
		if err := adjust(m, l.String(), -int64(8+len(v)+entryOverhead), -1); err != nil {
			return err
		}
		return adjust(m, "quarantine", int64(8+len(qv)+entryOverhead), 1)
	})
}

func (q *Queue) update(ctx context.Context, op string, fn func(tx *bolt.Tx) error) error {
	if q.o.ReadOnly {
		return ErrReadOnly
	}
	if err := q.db.Update(ctx, fn); err != nil {
		return fmt.Errorf("queue: %s: %w", op, err)
	}
	return nil
}

// Quarantined is a record in quarantine.
type Quarantined struct {
	Record
	// Reason is why the platform rejected it (masked).
	Reason string `json:"reason"`
	// At is when it was quarantined.
	At time.Time `json:"at"`
}

// Quarantined lists the records in quarantine, oldest first; withBody decrypts bodies
// (which needs the key).
func (q *Queue) Quarantined(withBody bool) ([]Quarantined, error) {
	if withBody && q.seal == nil {
		return nil, fmt.Errorf("queue: quarantine: %w", ErrNoKey)
	}
	var out []Quarantined
	err := q.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(quarantineBucket).ForEach(func(k, v []byte) error {
			at, reason, rv, err := decodeQuarantined(v)
			if err != nil {
				seq, _ := keySeq(k)
				out = append(out, Quarantined{Record: Record{Seq: seq, Damaged: err.Error()}})
				return nil
			}
			out = append(out, Quarantined{Record: q.readRecord(k, rv, withBody), Reason: reason, At: time.UnixMilli(at)})
			return nil
		})
	})
	return out, err
}

// Release moves quarantined records back to their lanes (under their original sequence
// numbers and ids, so the platform still de-duplicates them) and returns how many moved.
// With no sequence numbers, every quarantined record is released.
func (q *Queue) Release(ctx context.Context, seqs ...uint64) (int, error) {
	moved := 0
	err := q.update(ctx, "release", func(tx *bolt.Tx) error {
		moved = 0
		qb := tx.Bucket(quarantineBucket)
		m := tx.Bucket(qmetaBucket)
		if len(seqs) == 0 {
			_ = qb.ForEach(func(k, _ []byte) error {
				if s, ok := keySeq(k); ok {
					seqs = append(seqs, s)
				}
				return nil
			})
		}
		for _, seq := range seqs {
			qv := qb.Get(seqKey(seq))
			if qv == nil {
				continue
			}
			_, _, rv, err := decodeQuarantined(qv)
			if err != nil {
				continue
			}
			h, body, err := decodeHeader(rv)
			if err != nil {
				continue
			}
			h.lastErr = ""
			nv := h.encode(make([]byte, 0, h.size()+len(body)), body)
			if err := tx.Bucket(h.lane.bucket()).Put(seqKey(seq), nv); err != nil {
				return err
			}
			if err := qb.Delete(seqKey(seq)); err != nil {
				return err
			}
			if err := adjust(m, "quarantine", -int64(8+len(qv)+entryOverhead), -1); err != nil {
				return err
			}
			if err := adjust(m, h.lane.String(), int64(8+len(nv)+entryOverhead), 1); err != nil {
				return err
			}
			moved++
		}
		return nil
	})
	if moved > 0 {
		select {
		case q.added <- struct{}{}:
		default:
		}
	}
	return moved, err
}

// List returns up to max queued records of lane (all lanes when 0), oldest first,
// without bodies unless withBody.
func (q *Queue) List(lane Lane, max int, withBody bool) ([]Record, error) {
	if withBody && q.seal == nil {
		return nil, fmt.Errorf("queue: list: %w", ErrNoKey)
	}
	lanes := Lanes
	if lane != 0 {
		lanes = []Lane{lane}
	}
	return q.scan(lanes, max, nil, withBody)
}

// LaneStats describes one lane.
type LaneStats struct {
	// Depth is the number of records waiting.
	Depth int64 `json:"depth"`
	// Bytes is what they hold.
	Bytes int64 `json:"bytes"`
	// Oldest is when the oldest waiting record was stored (zero when empty).
	Oldest time.Time `json:"oldest,omitzero"`
	// OldestAgeSeconds is its age at the time of the snapshot.
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
}

// Stats is a snapshot for the local API, management telemetry and the CLI.
type Stats struct {
	Lanes map[Lane]LaneStats `json:"lanes"`
	// Quarantined counts the records in quarantine.
	Quarantined int64 `json:"quarantined"`
	// QuarantineBytes is what they hold.
	QuarantineBytes int64 `json:"quarantineBytes"`
	// UsedBytes counts every record, quarantined ones included, against CapBytes.
	UsedBytes int64 `json:"usedBytes"`
	// CapBytes is Options.MaxBytes; new business stops at CapBytes-ReserveBytes.
	CapBytes     int64 `json:"capBytes"`
	ReserveBytes int64 `json:"reserveBytes"`
	// FileBytes is the size of the file on disk.
	FileBytes int64 `json:"fileBytes"`
	// Full reports that new business is refused now.
	Full bool `json:"full"`
	// TelemetryDropped counts telemetry records dropped for room, ever.
	TelemetryDropped uint64 `json:"telemetryDropped"`
	// Refused counts Puts refused for the cap since the agent started.
	Refused uint64 `json:"refused"`
	// IdempotencyKeys counts the idempotency keys remembered (PutIdempotent).
	IdempotencyKeys uint64 `json:"idempotencyKeys"`
	// Recoveries lists corrupt files moved aside (the last ten).
	Recoveries []Recovery `json:"recoveries,omitempty"`
}

// Stats returns a snapshot.
func (q *Queue) Stats() (Stats, error) {
	now := q.now()
	s := Stats{Lanes: map[Lane]LaneStats{}, CapBytes: q.o.MaxBytes, ReserveBytes: q.o.ReserveBytes,
		Refused: q.refused.Load(), FileBytes: q.db.FileSize(), Recoveries: q.db.Recoveries()}
	err := q.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(qmetaBucket)
		for _, l := range Lanes {
			ls := LaneStats{Depth: int64(getU64(m, "count."+l.String())), Bytes: int64(getU64(m, "bytes."+l.String()))}
			if _, v := tx.Bucket(l.bucket()).Cursor().First(); v != nil {
				if h, _, err := decodeHeader(v); err == nil {
					ls.Oldest = time.UnixMilli(h.created)
					ls.OldestAgeSeconds = max(now.Sub(ls.Oldest).Seconds(), 0)
				}
			}
			s.Lanes[l] = ls
		}
		s.Quarantined = int64(getU64(m, "count.quarantine"))
		s.QuarantineBytes = int64(getU64(m, "bytes.quarantine"))
		s.UsedBytes = used(m)
		s.TelemetryDropped = getU64(m, "dropped.telemetry")
		s.IdempotencyKeys = getU64(m, "count.idem")
		return nil
	})
	s.Full = s.UsedBytes-s.Lanes[LaneTelemetry].Bytes+4096 > q.o.MaxBytes-q.o.ReserveBytes
	return s, err
}

// Path returns the queue file's path.
func (q *Queue) Path() string { return q.db.Path() }

// Close waits for pending writes and closes the file.
func (q *Queue) Close() error { return q.db.Close() }

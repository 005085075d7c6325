package queue

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
	"github.com/sscagent/sscagent/internal/mask"
)

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
	// Quarantine, when set, stores the record straight into quarantine with this reason
	// (masked, truncated): a record the agent owes but that failed its own Appendix C
	// check is kept for a person to look at and never uploads until Release.
	Quarantine string
}

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
		bucket, counter := e.Lane.bucket(), e.Lane.String()
		if e.Quarantine != "" {
			value = encodeQuarantined(h.created, truncate(mask.Text(e.Quarantine), maxErrLen), value)
			bucket, counter = quarantineBucket, "quarantine"
		}
		if err := tx.Bucket(bucket).Put(seqKey(seq), value); err != nil {
			return err
		}
		id = rec.id
		if err := adjust(m, counter, int64(8+len(value)+entryOverhead), 1); err != nil {
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
	if e.Quarantine != "" {
		return id, false, nil // nothing to upload
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

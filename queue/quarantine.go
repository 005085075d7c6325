package queue

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/mask"
)

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

// PruneQuarantine deletes the quarantined records quarantined more than olderThan ago
// and returns how many went. A damaged entry (its time unreadable) is kept: a person
// sees it in the quarantine listing.
func (q *Queue) PruneQuarantine(ctx context.Context, olderThan time.Duration) (int, error) {
	cut := q.now().Add(-olderThan).UnixMilli()
	pruned := 0
	err := q.update(ctx, "prune quarantine", func(tx *bolt.Tx) error {
		pruned = 0
		qb := tx.Bucket(quarantineBucket)
		var old [][]byte
		var size int64
		err := qb.ForEach(func(k, v []byte) error {
			if at, _, _, err := decodeQuarantined(v); err == nil && at < cut {
				old = append(old, append([]byte(nil), k...))
				size += int64(8 + len(v) + entryOverhead)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := qb.Delete(k); err != nil {
				return err
			}
		}
		pruned = len(old)
		if pruned == 0 {
			return nil
		}
		return adjust(tx.Bucket(qmetaBucket), "quarantine", -size, -int64(pruned))
	})
	if err != nil {
		return 0, err
	}
	if pruned > 0 {
		q.log.Info("queue: quarantined records past their retention deleted", "count", pruned, "olderThan", olderThan.String())
	}
	return pruned, nil
}

package queue

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/mask"
)

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

package boltstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

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

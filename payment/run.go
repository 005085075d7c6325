package payment

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Run resumes the orders left open by an earlier run, drives new ones, and prunes old
// final orders, until ctx is done. Then it stops the drivers (their orders stay as they
// are, to be resumed) and returns nil.
func (m *Manager) Run(ctx context.Context) error {
	if m.o.Gateway == nil {
		return errors.New("payment: no gateway")
	}
	if m.o.ReadOnly {
		return ErrReadOnly
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.runCtx != nil {
		m.mu.Unlock()
		return errors.New("payment: already running")
	}
	m.runCtx = rctx
	m.mu.Unlock()

	if err := m.resume(rctx); err != nil && rctx.Err() == nil {
		m.log.Error("payment: resuming open orders", "err", err)
	}
	m.resumeRefunds()
	m.prune(rctx)
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			m.prune(rctx)
			continue
		case <-rctx.Done():
		}
		break
	}
	m.mu.Lock()
	m.runCtx = nil
	m.mu.Unlock()
	cancel()
	m.wg.Wait()
	return nil
}

// resume starts a driver for every open order without one; CREATED orders of an earlier
// process fail (their code, if one was scanned, was never sent).
func (m *Manager) resume(ctx context.Context) error {
	var seqs []uint64
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOpen).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				seqs = append(seqs, binary.BigEndian.Uint64(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		m.mu.Lock()
		mine, busy := m.mine[seq], m.drivers[seq] != nil
		m.mu.Unlock()
		if busy {
			continue
		}
		var s *stored
		err := m.db.View(func(tx *bolt.Tx) (err error) {
			s, err = load(tx, seq)
			return err
		})
		if err == nil && s.State == Created && !mine {
			s, err = m.update(ctx, seq, func(s *stored) bool {
				m.end(s, Failed, reasonInterrupted)
				return true
			})
		}
		if err != nil {
			m.log.Error("payment: resume", "seq", seq, "err", err)
			continue
		}
		if !s.State.Final() && s.State != Created {
			m.log.Info("payment: resuming order", "order", s.No, "state", s.State)
			m.start(seq, "")
		}
	}
	return nil
}

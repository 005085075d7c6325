package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A C.3-sized record body.
var benchBody = bytes.Repeat([]byte("x"), 600)

// BenchmarkPut measures durable Puts (fsync before return, SM4-GCM sealed) from 1, 8 and
// 64 goroutines; BenchmarkNaiveUpdate is the baseline, one bbolt Update (one fsync) per
// record with no encryption. Compare puts/s; recs/commit shows the group commit at work.
//
//	go test ./queue/ -run XXX -bench 'Put|Naive' -benchtime 2000x -count 3
func BenchmarkPut(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers-%d", g), func(b *testing.B) {
			q := openQ(b, filepath.Join(b.TempDir(), "queue.db"), Options{MaxBytes: 4 << 30})
			c0 := q.db.Commits()
			start := time.Now()
			parallel(b, g, func() error {
				_, err := q.Put(context.Background(), Entry{Lane: LaneIdentity, Kind: "credential", Body: benchBody})
				return err
			})
			report(b, start, q.db.Commits()-c0)
		})
	}
}

// BenchmarkPutIdempotent is BenchmarkPut with a fresh idempotency key per record (the
// key, its fingerprint and its age entry in the same transaction, pruning included).
//
//	go test ./queue/ -run XXX -bench 'Put' -benchtime 2000x -count 3
func BenchmarkPutIdempotent(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers-%d", g), func(b *testing.B) {
			q := openQ(b, filepath.Join(b.TempDir(), "queue.db"), Options{MaxBytes: 4 << 30})
			c0 := q.db.Commits()
			var n atomic.Int64
			start := time.Now()
			parallel(b, g, func() error {
				key := fmt.Sprintf("order-%d", n.Add(1))
				_, _, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneIdentity, Kind: "credential", Body: benchBody}, key)
				return err
			})
			report(b, start, q.db.Commits()-c0)
		})
	}
}

func BenchmarkNaiveUpdate(b *testing.B) {
	for _, g := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers-%d", g), func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "naive.db"), 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("q")); return err })
			var commits atomic.Uint64
			start := time.Now()
			parallel(b, g, func() error {
				commits.Add(1)
				return db.Update(func(tx *bolt.Tx) error {
					bk := tx.Bucket([]byte("q"))
					seq, _ := bk.NextSequence()
					return bk.Put(binary.BigEndian.AppendUint64(nil, seq), benchBody)
				})
			})
			report(b, start, commits.Load())
		})
	}
}

// parallel runs b.N calls of f spread over g goroutines.
func parallel(b *testing.B, g int, f func() error) {
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func report(b *testing.B, start time.Time, commits uint64) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "puts/s")
	if commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "recs/commit")
	}
}

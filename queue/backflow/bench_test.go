package backflow_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/queue"
	. "github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/queue/backflow/backflowtest"
)

// BenchmarkDrain measures how fast a backlog of b.N records drains to a local HTTP
// platform ledger: read and decrypt oldest first, POST a batch as JSON, de-duplicate on
// the platform side, delete the acknowledged records (fsync). No rate limit.
//
//	go test ./backflow/ -run XXX -bench Drain -benchtime 5000x -count 3
func BenchmarkDrain(b *testing.B) {
	for _, tc := range []struct{ batch, conc int }{{50, 1}, {50, 2}, {200, 4}} {
		b.Run(fmt.Sprintf("batch-%d-conc-%d", tc.batch, tc.conc), func(b *testing.B) {
			q, err := queue.Open(filepath.Join(b.TempDir(), "queue.db"), queue.Options{Terminal: "SSC-B-01", Key: testKey, MaxBytes: 4 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			body := bytes.Repeat([]byte("x"), 600)
			backflowtest.Fill(b, q, b.N, func(int) queue.Entry {
				return queue.Entry{Lane: queue.LaneIdentity, Kind: "credential", Body: body}
			})
			l := backflowtest.NewLedger(b)
			c := DefaultConfig()
			c.BatchSize, c.Concurrency, c.RatePerSecond, c.Burst = tc.batch, tc.conc, 100000, 100000
			c.Interval = config.Duration(10 * time.Millisecond)
			u, err := New(Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: c})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			b.ResetTimer()
			start := time.Now()
			go func() { _ = u.Run(ctx); close(done) }()
			for depth(q) > 0 {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-done
			if n := len(l.Entries()); n != b.N {
				b.Fatalf("ledger has %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}

package backflow_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/queue"
	. "github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/queue/backflow/backflowtest"
)

var testKey = []byte("0123456789abcdef")

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

func openQueue(t testing.TB, path string) *queue.Queue {
	t.Helper()
	q, err := queue.Open(path, queue.Options{Terminal: "SSC-T-0001", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func fastConfig() Config {
	c := DefaultConfig()
	c.BatchSize, c.Burst, c.RatePerSecond = 20, 1000, 100000
	c.BackoffBase, c.BackoffMax = config.Duration(10*time.Millisecond), config.Duration(50*time.Millisecond)
	c.Interval, c.SubmitTimeout = config.Duration(time.Second), config.Duration(2*time.Second)
	return c
}

// start runs an uploader until the test ends.
func start(t *testing.T, o Options, setup func(u *Uploader)) *Uploader {
	t.Helper()
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return u
}

func putN(t testing.TB, q *queue.Queue, n int) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i := range n {
		body := fmt.Sprintf(`{"n":%d}`, i)
		id, err := q.Put(context.Background(), queue.Entry{Lane: queue.Lanes[i%3], Kind: "credential", Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = body
	}
	return ids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func depth(q *queue.Queue) int64 {
	st, _ := q.Stats()
	var n int64
	for _, l := range st.Lanes {
		n += l.Depth
	}
	return n
}

func TestDrainsEverything(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	var inCall, maxInCall atomic.Int32
	var maxBatch atomic.Int32
	l.SetDelay(2 * time.Millisecond)
	l.OnCall(func(n int) {
		c := inCall.Add(1)
		defer inCall.Add(-1)
		for m := maxInCall.Load(); c > m && !maxInCall.CompareAndSwap(m, c); m = maxInCall.Load() {
		}
		for m := maxBatch.Load(); int32(n) > m && !maxBatch.CompareAndSwap(m, int32(n)); m = maxBatch.Load() {
		}
	})
	ids := putN(t, q, 300)
	c := fastConfig()
	c.Concurrency = 2
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: c}, nil)
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
	got := l.Entries()
	if len(got) != len(ids) {
		t.Fatalf("ledger has %d records, want %d", len(got), len(ids))
	}
	for id, body := range ids {
		if string(got[id].Body) != body {
			t.Fatalf("record %s: ledger %q, queued %q", id, got[id].Body, body)
		}
	}
	waitFor(t, "stats", func() bool { st := u.Stats(); return st.Uploaded == 300 && st.InFlight == 0 })
	if st := u.Stats(); st.Outage || st.LastSuccess.IsZero() {
		t.Fatalf("stats %+v", st)
	}
	if maxBatch.Load() > 20 || maxInCall.Load() > 2 {
		t.Fatalf("batch %d (limit 20), concurrent calls %d (limit 2)", maxBatch.Load(), maxInCall.Load())
	}
	// A record put now is sent without waiting for the interval (1s here, far longer
	// than the deadline below would allow in a loop of puts).
	for range 5 {
		putN(t, q, 1)
		waitFor(t, "prompt upload", func() bool { return depth(q) == 0 })
	}
}

// TestOutageDrainsOnFirstSuccess: during an outage the backoff is an hour; only the
// "platform is up" signal can start the drain, and it must drain everything at once.
func TestOutageDrainsOnFirstSuccess(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	l.SetDown(true)
	putN(t, q, 120)
	var delays atomic.Int32
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig()},
		func(u *Uploader) {
			u.SetDelayForTest(func() time.Duration { delays.Add(1); return time.Hour })
		})
	waitFor(t, "outage", func() bool { return u.Stats().Outage })
	calls := l.Calls()
	if st := u.Stats(); st.NextAttempt.Before(time.Now().Add(30*time.Minute)) || st.LastError == "" {
		t.Fatalf("stats in outage %+v", st)
	}
	l.SetDown(false)
	u.PlatformUp()
	waitFor(t, "drain after recovery", func() bool { return depth(q) == 0 })
	if d := delays.Load(); d != 1 {
		t.Fatalf("backoff taken %d times; after the first success there must be no more waits", d)
	}
	if l.Calls() < calls+120/20 {
		t.Fatalf("only %d calls after recovery", l.Calls()-calls)
	}
	waitFor(t, "stats", func() bool { return u.Stats().Uploaded == 120 })
	if st := u.Stats(); st.Outage || st.Failures != 0 {
		t.Fatalf("stats after recovery %+v", st)
	}
}

// TestStaleFailureKeepsSignal: a batch sent before the platform came back fails after
// PlatformUp was taken; that stale failure must not start a new (hour-long) wait.
func TestStaleFailureKeepsSignal(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	l.SetDown(true)
	release := make(chan struct{})
	var calls atomic.Int32
	l.OnCall(func(int) {
		if calls.Add(1) == 2 {
			<-release // the second batch's answer (503) comes late
		}
	})
	putN(t, q, 120)
	c := fastConfig()
	c.Concurrency = 2
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: c},
		func(u *Uploader) { u.SetDelayForTest(func() time.Duration { return time.Hour }) })
	waitFor(t, "outage", func() bool { return u.Stats().Outage && calls.Load() == 2 })
	l.SetDown(false)
	u.PlatformUp()
	waitFor(t, "the signal taken", func() bool { return !u.UpPendingForTest() })
	close(release)
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
}

// TestOwnProbeEndsOutage: the probe after the backoff succeeds and the rest drains
// without further backoff.
func TestOwnProbeEndsOutage(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	l.SetDown(true)
	var first sync.Once
	l.OnCall(func(int) { first.Do(func() { go func() { time.Sleep(10 * time.Millisecond); l.SetDown(false) }() }) })
	putN(t, q, 100)
	var delays atomic.Int32
	var notices []string
	var mu sync.Mutex
	start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig(),
		OnNotice: func(n Notice) { mu.Lock(); notices = append(notices, n.Kind); mu.Unlock() }},
		func(u *Uploader) {
			u.SetDelayForTest(func() time.Duration { delays.Add(1); return 50 * time.Millisecond })
		})
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
	if d := delays.Load(); d < 1 || d > 2 {
		// One failure for sure; a second only if the probe raced the recovery.
		t.Fatalf("%d backoffs", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 2 || notices[0] != "backflow.outage" || notices[1] != "backflow.resumed" {
		t.Fatalf("notices %v", notices)
	}
}

func TestFlushEndsWait(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	l.SetDown(true)
	putN(t, q, 10)
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig()},
		func(u *Uploader) { u.SetDelayForTest(func() time.Duration { return time.Hour }) })
	waitFor(t, "outage", func() bool { return u.Stats().Outage })
	l.SetDown(false)
	u.Flush()
	waitFor(t, "drain after flush", func() bool { return depth(q) == 0 })
}

func TestRejectedRecordQuarantined(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	ids := putN(t, q, 30)
	var bad string
	for id := range ids {
		bad = id
		break
	}
	l.Reject(bad)
	var quar atomic.Int32
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig(),
		OnNotice: func(n Notice) {
			if n.Kind == "backflow.quarantined" {
				quar.Add(1)
			}
		}}, nil)
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
	qs, err := q.Quarantined(true)
	if err != nil || len(qs) != 1 || qs[0].ID != bad || string(qs[0].Body) != ids[bad] {
		t.Fatalf("quarantine %+v %v", qs, err)
	}
	if !strings.Contains(qs[0].Reason, "rejected by the platform") || strings.Contains(qs[0].Reason, "350102199003077898") {
		t.Fatalf("reason %q (must say why, masked)", qs[0].Reason)
	}
	if _, ok := l.Entries()[bad]; ok {
		t.Fatal("rejected record in the ledger")
	}
	waitFor(t, "stats", func() bool { st := u.Stats(); return st.Quarantined == 1 && st.Uploaded == 29 })
	if quar.Load() != 1 {
		t.Fatalf("notices %d", quar.Load())
	}
}

// TestLostAnswersResent: the platform stores batches but the answers are lost; the
// records are sent again under the same ids, de-duplicated, and deleted once acked.
func TestLostAnswersResent(t *testing.T) {
	q := openQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	l := backflowtest.NewLedger(t)
	l.SetHangUp(true)
	ids := putN(t, q, 50)
	u := start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig()}, nil)
	waitFor(t, "a lost answer", func() bool { return u.Stats().Failures > 0 })
	// A failure is counted after its batch's attempt was booked. Batches go out
	// concurrently, so the booked one need not hold the oldest record.
	recs, _ := q.Oldest(context.Background(), 100, nil)
	booked := 0
	for _, r := range recs {
		if r.Attempts > 0 && r.LastError != "" {
			booked++
		}
	}
	if booked == 0 {
		t.Fatalf("failed attempt not booked: %+v", recs)
	}
	l.SetHangUp(false)
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
	got := l.Entries()
	dups := 0
	for id, body := range ids {
		if string(got[id].Body) != body {
			t.Fatalf("record %s missing or altered", id)
		}
		dups += got[id].Sends - 1
	}
	if dups == 0 || len(l.Conflicts()) > 0 {
		t.Fatalf("dups %d conflicts %v", dups, l.Conflicts())
	}
	waitFor(t, "duplicate acks counted", func() bool { return u.Stats().Duplicates > 0 })
}

// TestDamagedRecordQuarantined alters a body at rest; it must not block the others.
func TestDamagedRecordQuarantined(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := queue.Open(path, queue.Options{Terminal: "T", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, q, 5)
	q.Close()
	b, _ := bolt.Open(path, 0o600, nil)
	_ = b.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("lane.money"))
		k, v := bk.Cursor().First()
		v = append([]byte(nil), v...)
		v[len(v)-3] ^= 0xff
		return bk.Put(k, v)
	})
	b.Close()
	q = openQueue(t, path)
	l := backflowtest.NewLedger(t)
	start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig()}, nil)
	waitFor(t, "drain", func() bool { return depth(q) == 0 })
	qs, _ := q.Quarantined(false)
	if len(qs) != 1 || !strings.Contains(qs[0].Reason, "damaged at rest") || len(l.Entries()) != 4 {
		t.Fatalf("quarantine %+v ledger %d", qs, len(l.Entries()))
	}
}

func TestConfigValidate(t *testing.T) {
	var ps config.Problems
	DefaultConfig().Validate("backflow", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults: %v", ps.List())
	}
	bad := Config{BatchSize: 0, Concurrency: 99, RatePerSecond: 0, Burst: -1}
	bad.Validate("backflow", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	want := "backflow.batchSize backflow.concurrency backflow.ratePerSecond backflow.burst backflow.backoffBase backflow.interval backflow.submitTimeout"
	if strings.Join(paths, " ") != want {
		t.Fatalf("problems %v", paths)
	}
	if _, err := New(Options{Store: nil}); err == nil {
		t.Fatal("New without a store")
	}
	if _, err := New(Options{Store: &queue.Queue{}, Submitter: &backflowtest.Submitter{}, Config: bad}); err == nil {
		t.Fatal("New with a bad config")
	}
	var ce *config.Error
	_, err := New(Options{Store: &queue.Queue{}, Submitter: &backflowtest.Submitter{}, Config: bad})
	if !errors.As(err, &ce) {
		t.Fatalf("not a config error: %v", err)
	}
}

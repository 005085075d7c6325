package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func putIdem(t *testing.T, q *Queue, key, body string) (string, bool) {
	t.Helper()
	id, replayed, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneMoney, Kind: "payment", Body: []byte(body)}, key)
	if err != nil {
		t.Fatalf("PutIdempotent(%q): %v", key, err)
	}
	return id, replayed
}

func keys(t *testing.T, q *Queue) int {
	t.Helper()
	st, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return int(st.IdempotencyKeys)
}

func depth(t *testing.T, q *Queue) int {
	t.Helper()
	st, err := q.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Lanes[LaneMoney].Depth)
}

// TestPutIdempotent: a key stores its record once; the same key and record again is a
// replay with the first id, also after the record was acknowledged and across a reopen;
// the same key with another record is a conflict that stores nothing; after the TTL the
// key is free again.
func TestPutIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	clk := &clock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.Local)}
	o := Options{Now: clk.now, IdempotencyTTL: time.Hour}
	q := openQ(t, path, o)

	id1, replayed := putIdem(t, q, "order-7781-record", `{"amount":"12.00"}`)
	if replayed {
		t.Fatal("first put reported as a replay")
	}
	if id, replayed := putIdem(t, q, "order-7781-record", `{"amount":"12.00"}`); id != id1 || !replayed {
		t.Fatalf("retry: %s replayed=%v, want %s replayed", id, replayed, id1)
	}
	if d := depth(t, q); d != 1 {
		t.Fatalf("depth %d after a retry, want 1", d)
	}
	_, _, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneMoney, Kind: "payment", Body: []byte(`{"amount":"13.00"}`)}, "order-7781-record")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), id1) {
		t.Fatalf("same key, other record: %v, want ErrConflict naming %s", err, id1)
	}
	// The same body in another lane or kind is another record.
	if _, _, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneIdentity, Kind: "payment", Body: []byte(`{"amount":"12.00"}`)}, "order-7781-record"); !errors.Is(err, ErrConflict) {
		t.Fatalf("same key, other lane: %v", err)
	}
	if d := depth(t, q); d != 1 {
		t.Fatalf("depth %d after a conflict, want 1", d)
	}

	// Acknowledged and deleted: the key still answers with the record's id.
	recs, _ := q.Oldest(context.Background(), 10, nil)
	if err := q.Ack(context.Background(), recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQ(t, path, o)
	if id, replayed := putIdem(t, q, "order-7781-record", `{"amount":"12.00"}`); id != id1 || !replayed {
		t.Fatalf("after ack and reopen: %s replayed=%v, want %s replayed", id, replayed, id1)
	}
	if d := depth(t, q); d != 0 {
		t.Fatalf("a replay after ack queued the record again (depth %d)", d)
	}

	// Past the TTL the key is forgotten: the same request is new business.
	clk.add(time.Hour + time.Second)
	id2, replayed := putIdem(t, q, "order-7781-record", `{"amount":"12.00"}`)
	if replayed || id2 == id1 {
		t.Fatalf("after the TTL: %s replayed=%v, want a new record", id2, replayed)
	}
	if n := keys(t, q); n != 1 {
		t.Fatalf("%d keys remembered, want 1", n)
	}
	if id, replayed := putIdem(t, q, "order-7781-record", `{"amount":"12.00"}`); id != id2 || !replayed {
		t.Fatalf("retry of the new record: %s %v", id, replayed)
	}
}

// TestIdempotencyKeysBounded: expired keys are pruned by later Puts, and beyond
// MaxIdempotencyKeys the oldest keys are forgotten first.
func TestIdempotencyKeysBounded(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 24, 9, 0, 0, 0, time.Local)}
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{Now: clk.now, IdempotencyTTL: time.Hour, MaxIdempotencyKeys: 3})
	for i := range 5 {
		putIdem(t, q, fmt.Sprintf("k%d", i), fmt.Sprintf("r%d", i))
	}
	if n := keys(t, q); n != 3 {
		t.Fatalf("%d keys remembered, want the cap 3", n)
	}
	if _, replayed := putIdem(t, q, "k4", "r4"); !replayed {
		t.Fatal("the newest key was forgotten")
	}
	if _, replayed := putIdem(t, q, "k0", "r0"); replayed {
		t.Fatal("the oldest key was kept beyond the cap")
	}
	// All expire; one more Put prunes them (at most idemPrunePerPut a Put).
	clk.add(2 * time.Hour)
	putIdem(t, q, "fresh", "r")
	if n := keys(t, q); n != 1 {
		t.Fatalf("%d keys after expiry, want 1", n)
	}
	// Puts without a key leave the keys alone.
	mustPut(t, q, LaneMoney, "plain")
	if n := keys(t, q); n != 1 {
		t.Fatalf("%d keys after a plain Put, want 1", n)
	}
}

// TestIdempotencyKeyNotAtRest: neither the key nor the record shows in the file.
func TestIdempotencyKeyNotAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	key := "visit-350102199003077898"
	putIdem(t, q, key, `{"name":"张三"}`)
	q.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{key, "350102199003077898", "张三"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("%q is in the queue file in clear", s)
		}
	}
}

func TestIdempotencyKeyInvalid(t *testing.T) {
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{})
	for _, k := range []string{"", strings.Repeat("k", MaxIdempotencyKeyLen+1), "has space", "tab\t", "键"} {
		if _, _, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneMoney, Kind: "payment", Body: []byte("x")}, k); !errors.Is(err, ErrInvalid) {
			t.Errorf("key %q: %v, want ErrInvalid", k, err)
		}
	}
	if d := depth(t, q); d != 0 {
		t.Fatalf("invalid keys stored %d records", d)
	}
}

// TestConcurrentIdempotentPuts: many writers with the same key in the same group
// commits store one record and all get its id.
func TestConcurrentIdempotentPuts(t *testing.T) {
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{})
	const n = 32
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, _, err := q.PutIdempotent(context.Background(), Entry{Lane: LaneMoney, Kind: "payment", Body: []byte("same")}, "one-key")
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids differ: %q", ids)
		}
	}
	if d := depth(t, q); d != 1 {
		t.Fatalf("depth %d, want 1", d)
	}
}

// TestUpgradeFromVersion1: a file written by the first schema (no idempotency buckets)
// opens, keeps its records and takes idempotent Puts.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	old := mustPut(t, q, LaneIdentity, "kept")
	q.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{idemBucket, idemAgeBucket} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	q = openQ(t, path, Options{})
	recs, _ := q.Oldest(context.Background(), 10, nil)
	if len(recs) != 1 || recs[0].ID != old || string(recs[0].Body) != "kept" {
		t.Fatalf("after upgrade: %+v", recs)
	}
	id, _ := putIdem(t, q, "k", "new")
	if id2, replayed := putIdem(t, q, "k", "new"); id2 != id || !replayed {
		t.Fatal("idempotency does not work after the upgrade")
	}
}

func FuzzDecodeIdem(f *testing.F) {
	f.Add(idemValue{created: 1700000000000, seq: 42, id: "SSC-T-0001-0000000000000042"}.encode())
	f.Add(make([]byte, 47))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeIdem(b)
		if ok != (len(b) >= 48) {
			t.Fatalf("ok=%v for %d bytes", ok, len(b))
		}
		if ok && !bytes.Equal(v.encode(), b) {
			t.Fatalf("round trip differs: %+v", v)
		}
	})
}

package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/internal/prompt"
)

var testKey = []byte("0123456789abcdef")

// TestMain lets the test binary hold a queue open in a second process.
func TestMain(m *testing.M) {
	if path := os.Getenv("QUEUE_TEST_HOLD"); path != "" {
		q, err := Open(path, Options{Terminal: "T1", Key: testKey})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		labtest.ChildReady()
		_ = q.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openQ(t testing.TB, path string, o Options) *Queue {
	t.Helper()
	if o.Terminal == "" {
		o.Terminal = "SSC-T-0001"
	}
	if o.Key == nil {
		o.Key = testKey
	}
	q, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func mustPut(t testing.TB, q *Queue, lane Lane, body string) string {
	t.Helper()
	id, err := q.Put(context.Background(), Entry{Lane: lane, Kind: "credential", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPutOldestAckAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	ids := []string{
		mustPut(t, q, LaneTelemetry, "t1"),
		mustPut(t, q, LaneMoney, "m1"),
		mustPut(t, q, LaneIdentity, `{"name":"张三","socialSecurityNo":"350102199003077898"}`),
		mustPut(t, q, LaneMoney, "m2"),
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "SSC-T-0001-") || len(id) != len("SSC-T-0001-")+16 {
			t.Fatalf("id %q is not terminal-16 digits", id)
		}
	}
	q.Close()

	q = openQ(t, path, Options{})
	recs, err := q.Oldest(context.Background(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range recs {
		got = append(got, string(r.Body))
		if r.ID != ids[i] || r.Damaged != "" {
			t.Fatalf("record %d: %+v, want id %s", i, r, ids[i])
		}
		if i > 0 && r.Seq <= recs[i-1].Seq {
			t.Fatal("not oldest first")
		}
	}
	want := []string{"t1", "m1", `{"name":"张三","socialSecurityNo":"350102199003077898"}`, "m2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bodies %q, want %q (oldest first across lanes)", got, want)
	}
	listed, _ := q.List(0, 10, false)
	for i := range listed {
		if listed[i].Seq != recs[i].Seq || listed[i].Body != nil {
			t.Fatalf("List is not oldest first across lanes, or carries bodies: %+v", listed)
		}
	}
	skipped, _ := q.Oldest(context.Background(), 10, func(s uint64) bool { return s == recs[0].Seq || s == recs[2].Seq })
	if len(skipped) != 2 || skipped[0].Seq != recs[1].Seq || skipped[1].Seq != recs[3].Seq {
		t.Fatalf("skip: %+v", skipped)
	}
	if err := q.Ack(context.Background(), recs[0].Seq, recs[2].Seq, 999); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q = openQ(t, path, Options{})
	left, _ := q.Oldest(context.Background(), 10, nil)
	if len(left) != 2 || string(left[0].Body) != "m1" || string(left[1].Body) != "m2" {
		t.Fatalf("after ack: %+v", left)
	}
	st, _ := q.Stats()
	if st.Lanes[LaneMoney].Depth != 2 || st.Lanes[LaneIdentity].Depth != 0 || st.Lanes[LaneTelemetry].Depth != 0 {
		t.Fatalf("stats %+v", st.Lanes)
	}
	if st.Lanes[LaneMoney].Oldest.IsZero() || st.UsedBytes != st.Lanes[LaneMoney].Bytes {
		t.Fatalf("stats %+v", st)
	}
}

func TestBodiesEncryptedAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	secret := "350102199003077898-张三-PLAINTEXT-MARKER"
	mustPut(t, q, LaneIdentity, secret)
	q.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("PLAINTEXT-MARKER")) || bytes.Contains(raw, []byte("350102199003077898")) {
		t.Fatal("record body found in clear in the queue file")
	}
	// Another key is refused at Open, not discovered record by record.
	if _, err := Open(path, Options{Terminal: "T", Key: []byte("fedcba9876543210")}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	// Without a key, metadata and statistics still work; bodies and Put do not.
	q, err = Open(path, Options{Terminal: "T"})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if st, err := q.Stats(); err != nil || st.Lanes[LaneIdentity].Depth != 1 {
		t.Fatalf("stats without key: %+v %v", st, err)
	}
	if l, err := q.List(0, 10, false); err != nil || len(l) != 1 || l[0].Body != nil {
		t.Fatalf("list without key: %+v %v", l, err)
	}
	if _, err := q.Put(context.Background(), Entry{Lane: LaneMoney, Kind: "payment", Body: []byte("x")}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("put without key: %v", err)
	}
}

// TestDamagedBodyFlagged alters a stored body: it must come back flagged, not as data.
func TestDamagedBodyFlagged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	mustPut(t, q, LaneMoney, "good")
	mustPut(t, q, LaneMoney, "to be damaged")
	q.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(LaneMoney.bucket()).Cursor()
		c.First()
		k, v := c.Next()
		v = append([]byte(nil), v...)
		v[len(v)-1] ^= 1
		return tx.Bucket(LaneMoney.bucket()).Put(k, v)
	})
	b.Close()
	q = openQ(t, path, Options{})
	recs, _ := q.Oldest(context.Background(), 10, nil)
	if len(recs) != 2 || recs[0].Damaged != "" || recs[1].Damaged == "" || recs[1].Body != nil {
		t.Fatalf("damaged record not flagged: %+v", recs)
	}
}

func TestRetryAndQuarantine(t *testing.T) {
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{})
	mustPut(t, q, LaneMoney, "a")
	mustPut(t, q, LaneIdentity, "b")
	recs, _ := q.Oldest(context.Background(), 10, nil)
	ctx := context.Background()
	if err := q.Retry(ctx, "platform said: holder 350102199003077898 unknown", recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, "timeout", recs[0].Seq); err != nil {
		t.Fatal(err)
	}
	recs, _ = q.Oldest(ctx, 10, nil)
	if recs[0].Attempts != 2 || recs[0].LastError != "timeout" || string(recs[0].Body) != "a" {
		t.Fatalf("after retries: %+v", recs[0])
	}
	if err := q.Quarantine(ctx, recs[1].Seq, "rejected: field socialSecurityNo 350102199003077898 not registered"); err != nil {
		t.Fatal(err)
	}
	left, _ := q.Oldest(ctx, 10, nil)
	if len(left) != 1 || left[0].Seq != recs[0].Seq {
		t.Fatalf("quarantined record still queued: %+v", left)
	}
	qs, err := q.Quarantined(true)
	if err != nil || len(qs) != 1 {
		t.Fatalf("quarantine: %+v %v", qs, err)
	}
	if strings.Contains(qs[0].Reason, "350102199003077898") || !strings.Contains(qs[0].Reason, "7898") {
		t.Fatalf("reason not masked: %q", qs[0].Reason)
	}
	if qs[0].ID != recs[1].ID || string(qs[0].Body) != "b" || qs[0].At.IsZero() {
		t.Fatalf("quarantined %+v", qs[0])
	}
	st, _ := q.Stats()
	if st.Quarantined != 1 || st.QuarantineBytes == 0 || st.Lanes[LaneIdentity].Depth != 0 {
		t.Fatalf("stats %+v", st)
	}
	n, err := q.Release(ctx)
	if err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	back, _ := q.Oldest(ctx, 10, nil)
	if len(back) != 2 || back[1].ID != recs[1].ID || string(back[1].Body) != "b" {
		t.Fatalf("released record not back under its id: %+v", back)
	}
	st, _ = q.Stats()
	if st.Quarantined != 0 || st.QuarantineBytes != 0 || st.Lanes[LaneIdentity].Depth != 1 {
		t.Fatalf("stats after release %+v", st)
	}
}

// TestPutQuarantined: a record put with a Quarantine reason goes straight to quarantine
// (masked reason, never offered for upload) and Release puts it in its lane under the
// same id.
func TestPutQuarantined(t *testing.T) {
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{})
	ctx := context.Background()
	id, err := q.Put(ctx, Entry{Lane: LaneIdentity, Kind: "credential", Body: []byte("bad"),
		Quarantine: "records: invalid credential: socialSecurityNo: GB 11643: 350102199003077890"})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := q.Oldest(ctx, 10, nil); len(recs) != 0 {
		t.Fatalf("a quarantined record is offered for upload: %+v", recs)
	}
	select {
	case <-q.Added():
		t.Fatal("a quarantined record woke the uploader")
	default:
	}
	qs, err := q.Quarantined(true)
	if err != nil || len(qs) != 1 || qs[0].ID != id || string(qs[0].Body) != "bad" || qs[0].Lane != LaneIdentity {
		t.Fatalf("quarantine: %+v %v", qs, err)
	}
	if strings.Contains(qs[0].Reason, "350102199003077890") || !strings.Contains(qs[0].Reason, "socialSecurityNo: GB 11643") {
		t.Fatalf("reason %q", qs[0].Reason)
	}
	st, _ := q.Stats()
	if st.Quarantined != 1 || st.Lanes[LaneIdentity].Depth != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n, err := q.Release(ctx); err != nil || n != 1 {
		t.Fatalf("release: %d %v", n, err)
	}
	if back, _ := q.Oldest(ctx, 10, nil); len(back) != 1 || back[0].ID != id || string(back[0].Body) != "bad" {
		t.Fatalf("released: %+v", back)
	}
}

func TestCapRefusesNewBusinessKeepsEverything(t *testing.T) {
	const capBytes = 64 << 10
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{MaxBytes: capBytes, ReserveBytes: 8 << 10, TelemetryMaxBytes: 8 << 10})
	ctx := context.Background()
	body := bytes.Repeat([]byte("m"), 900)
	var ids []string
	var full error
	for i := 0; i < 200; i++ {
		id, err := q.Put(ctx, Entry{Lane: LaneMoney, Kind: "payment", Body: body})
		if err != nil {
			full = err
			break
		}
		ids = append(ids, id)
	}
	var fe *FullError
	if !errors.Is(full, ErrFull) || !errors.As(full, &fe) || fe.Lane != LaneMoney || fe.PromptCode() != CodeFull {
		t.Fatalf("no FullError at the cap: %v", full)
	}
	if prompt.Lookup(CodeFull).Operator.ZH == "" {
		t.Fatal("prompt not registered")
	}
	if err := q.Accepting(LaneIdentity); !errors.Is(err, ErrFull) {
		t.Fatalf("Accepting at the cap: %v", err)
	}
	st, _ := q.Stats()
	if !st.Full || st.Refused != 1 || st.UsedBytes > capBytes-8<<10 {
		t.Fatalf("stats at the cap: %+v", st)
	}
	// Business already done may use the reserve.
	if _, err := q.Put(ctx, Entry{Lane: LaneMoney, Kind: "payment", Body: body, Reserve: true}); err != nil {
		t.Fatalf("reserve refused: %v", err)
	}
	// Nothing queued was lost.
	recs, _ := q.Oldest(ctx, 1000, nil)
	if len(recs) != len(ids)+1 {
		t.Fatalf("%d records, want %d", len(recs), len(ids)+1)
	}
	// Draining makes room again.
	var seqs []uint64
	for _, r := range recs[:10] {
		seqs = append(seqs, r.Seq)
	}
	if err := q.Ack(ctx, seqs...); err != nil {
		t.Fatal(err)
	}
	if err := q.Accepting(LaneMoney); err != nil {
		t.Fatalf("still refused after draining: %v", err)
	}
	if _, err := q.Put(ctx, Entry{Lane: LaneMoney, Kind: "payment", Body: body}); err != nil {
		t.Fatal(err)
	}
}

func TestTelemetryDropsOldest(t *testing.T) {
	const capBytes = 64 << 10
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{MaxBytes: capBytes, ReserveBytes: 4 << 10, TelemetryMaxBytes: 8 << 10})
	ctx := context.Background()
	tel := bytes.Repeat([]byte("t"), 400)
	var first string
	for i := 0; i < 100; i++ {
		id, err := q.Put(ctx, Entry{Lane: LaneTelemetry, Kind: "event", Body: tel})
		if err != nil {
			t.Fatalf("telemetry refused at its budget instead of dropping: %v", err)
		}
		if i == 0 {
			first = id
		}
	}
	st, _ := q.Stats()
	if st.Lanes[LaneTelemetry].Bytes > 8<<10 || st.TelemetryDropped == 0 {
		t.Fatalf("telemetry over budget or nothing dropped: %+v", st)
	}
	recs, _ := q.List(LaneTelemetry, 1000, false)
	if recs[0].ID == first || int64(len(recs))+int64(st.TelemetryDropped) != 100 {
		t.Fatalf("oldest not dropped: first=%s kept=%d dropped=%d", first, len(recs), st.TelemetryDropped)
	}
	// Money fills the rest of the cap by pushing telemetry out, never the reverse.
	money := bytes.Repeat([]byte("m"), 900)
	n := 0
	for {
		if _, err := q.Put(ctx, Entry{Lane: LaneMoney, Kind: "payment", Body: money}); err != nil {
			if !errors.Is(err, ErrFull) {
				t.Fatal(err)
			}
			break
		}
		n++
	}
	st, _ = q.Stats()
	if st.Lanes[LaneTelemetry].Depth != 0 {
		t.Fatalf("money refused while telemetry could make room: %+v", st.Lanes)
	}
	if st.Lanes[LaneMoney].Depth != int64(n) {
		t.Fatalf("money depth %d, want %d", st.Lanes[LaneMoney].Depth, n)
	}
	// Telemetry is now refused rather than dropping money.
	if _, err := q.Put(ctx, Entry{Lane: LaneTelemetry, Kind: "event", Body: tel}); !errors.Is(err, ErrFull) {
		t.Fatalf("telemetry over a full money lane: %v", err)
	}
	if st2, _ := q.Stats(); st2.Lanes[LaneMoney].Depth != int64(n) {
		t.Fatal("money record lost")
	}
}

func TestInvalidEntries(t *testing.T) {
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{MaxRecordBytes: 100})
	ctx := context.Background()
	for _, e := range []Entry{
		{Lane: 0, Kind: "x", Body: []byte("b")},
		{Lane: 9, Kind: "x", Body: []byte("b")},
		{Lane: LaneMoney, Kind: "", Body: []byte("b")},
		{Lane: LaneMoney, Kind: "has space", Body: []byte("b")},
		{Lane: LaneMoney, Kind: strings.Repeat("k", 33), Body: []byte("b")},
		{Lane: LaneMoney, Kind: "x"},
	} {
		if _, err := q.Put(ctx, e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", e, err)
		}
	}
	if _, err := q.Put(ctx, Entry{Lane: LaneMoney, Kind: "x", Body: make([]byte, 101)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if st, _ := q.Stats(); st.UsedBytes != 0 {
		t.Fatal("refused entries were stored")
	}
}

func TestConcurrentPutsUniqueIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id, err := q.Put(context.Background(), Entry{Lane: Lanes[(w+i)%3], Kind: "k", Body: []byte(fmt.Sprint(w, i))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %s twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st, _ := q.Stats()
	var depth int64
	for _, l := range st.Lanes {
		depth += l.Depth
	}
	if depth != 400 || len(seen) != 400 {
		t.Fatalf("depth %d, ids %d", depth, len(seen))
	}
	select {
	case <-q.Added():
	default:
		t.Fatal("Added not signalled")
	}
}

func TestCorruptFileRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xde, 0xad}, 10000), 0o600); err != nil {
		t.Fatal(err)
	}
	q := openQ(t, path, Options{})
	st, _ := q.Stats()
	if len(st.Recoveries) != 1 || !strings.Contains(st.Recoveries[0].MovedTo, "queue.db.corrupt-") {
		t.Fatalf("recovery not reported: %+v", st)
	}
	mustPut(t, q, LaneMoney, "after recovery")
}

// TestSalvagedRecordsRecounted damages a queue with many records; after recovery the
// counters must match the salvaged records and ids must not be reused.
func TestSalvagedRecordsRecounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	ids := map[string]bool{}
	for i := range 1500 {
		ids[mustPut(t, q, Lanes[i%3], strings.Repeat("x", 200))] = true
	}
	q.Close()
	fi, _ := os.Stat(path)
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	_, _ = f.WriteAt(bytes.Repeat([]byte{0x5a}, 4096), (fi.Size()/4096/2)*4096)
	f.Close()

	q = openQ(t, path, Options{})
	st, _ := q.Stats()
	if len(st.Recoveries) != 1 {
		t.Fatalf("damage not detected: %+v", st)
	}
	recs, _ := q.Oldest(context.Background(), 5000, nil)
	var depth int64
	for _, l := range st.Lanes {
		depth += l.Depth
	}
	if int64(len(recs)) != depth || depth == 0 {
		t.Fatalf("counters say %d records, %d readable", depth, len(recs))
	}
	t.Logf("salvaged %d of 1500 records", len(recs))
	id := mustPut(t, q, LaneMoney, "new")
	if ids[id] {
		t.Fatalf("id %s reused after recovery", id)
	}
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	labtest.StartChild(t, "QUEUE_TEST_HOLD="+path)
	_, err := Open(path, Options{Terminal: "T1", Key: testKey, LockTimeout: 300 * time.Millisecond})
	if !IsLocked(err) || !strings.Contains(err.Error(), "is the agent running?") {
		t.Fatalf("got %v", err)
	}
}

func TestReadOnlyOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q := openQ(t, path, Options{})
	mustPut(t, q, LaneMoney, "x")
	q.Close()
	r, err := Open(path, Options{ReadOnly: true, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if l, _ := r.List(0, 10, true); len(l) != 1 || string(l[0].Body) != "x" {
		t.Fatalf("read-only list %+v", l)
	}
	if _, err := r.Put(context.Background(), Entry{Lane: LaneMoney, Kind: "x", Body: []byte("y")}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only put: %v", err)
	}
	if _, err := r.Release(context.Background()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only release: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.db"), Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of a missing queue succeeded")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	p := config.SecretFile(filepath.Join(dir, "sub", "queue.key"))
	if _, err := LoadKey(p, false); err == nil {
		t.Fatal("missing key accepted without create")
	}
	k1, err := LoadKey(p, true)
	if err != nil || len(k1) != 16 {
		t.Fatalf("create: %x %v", k1, err)
	}
	fi, _ := os.Stat(string(p))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}
	k2, err := LoadKey(p, true)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key not stable across loads")
	}
	_ = os.Chmod(string(p), 0o644)
	if _, err := LoadKey(p, true); !errors.Is(err, config.ErrSecretPerm) {
		t.Fatalf("readable key accepted: %v", err)
	}
	_ = os.WriteFile(string(p), []byte("not hex"), 0o600)
	if _, err := LoadKey(p, true); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestConfig(t *testing.T) {
	var ps config.Problems
	DefaultConfig().Validate("queue", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults invalid: %v", ps.List())
	}
	bad := Config{MaxMB: 0, ReservePercent: 80, TelemetryPercent: 0, MaxRecordKB: 0}
	bad.Validate("queue", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	want := "queue.maxMB queue.reservePercent queue.telemetryPercent queue.maxRecordKB queue.lockTimeout queue.quarantineRetention"
	if strings.Join(paths, " ") != want {
		t.Fatalf("problems at %v, want %s", paths, want)
	}
	o := DefaultConfig().Options()
	if o.MaxBytes != 256<<20 || o.ReserveBytes != o.MaxBytes*5/100 || o.MaxRecordBytes != 256<<10 {
		t.Fatalf("options %+v", o)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	h := header{lane: LaneMoney, flags: flagSealed, created: 1700000000000, attempts: 3, kind: "payment", id: "T-0000000000000001", lastErr: "timeout"}
	f.Add(h.encode(nil, []byte("body")))
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, v []byte) {
		h, body, err := decodeHeader(v)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if again := h.encode(nil, body); !bytes.Equal(again, v) {
			// Only non-minimal uvarints may differ; they must decode the same.
			h2, body2, err := decodeHeader(again)
			if err != nil || h2 != h || !bytes.Equal(body2, body) {
				t.Fatalf("round trip: %+v", h)
			}
		}
	})
}

func FuzzDecodeQuarantined(f *testing.F) {
	h := header{lane: LaneIdentity, created: 1, kind: "credential", id: "T-1"}
	f.Add(encodeQuarantined(1700000000000, "rejected", h.encode(nil, []byte("b"))))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, v []byte) {
		at, reason, rv, err := decodeQuarantined(v)
		if err != nil {
			return
		}
		if len(reason) > maxErrLen {
			t.Fatal("reason over its limit")
		}
		_, _, _ = decodeHeader(rv)
		_ = at
	})
}

func TestPruneQuarantine(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	q := openQ(t, filepath.Join(t.TempDir(), "queue.db"), Options{Now: clock})
	ctx := context.Background()
	mustPut(t, q, LaneIdentity, "old")
	mustPut(t, q, LaneIdentity, "young")
	recs, _ := q.Oldest(ctx, 10, nil)
	if err := q.Quarantine(ctx, recs[0].Seq, "rejected"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * 24 * time.Hour)
	if err := q.Quarantine(ctx, recs[1].Seq, "rejected"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * 24 * time.Hour) // the first is 31 days old, the second 11
	n, err := q.PruneQuarantine(ctx, DefaultQuarantineRetention)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	qs, _ := q.Quarantined(true)
	if len(qs) != 1 || string(qs[0].Body) != "young" {
		t.Fatalf("left %+v", qs)
	}
	st, _ := q.Stats()
	if st.Quarantined != 1 || st.QuarantineBytes == 0 {
		t.Fatalf("stats %+v", st)
	}
	if n, _ := q.PruneQuarantine(ctx, DefaultQuarantineRetention); n != 0 {
		t.Fatalf("pruned again: %d", n)
	}
	now = now.Add(30 * 24 * time.Hour)
	if n, _ := q.PruneQuarantine(ctx, DefaultQuarantineRetention); n != 1 {
		t.Fatalf("the second not pruned: %d", n)
	}
	if st, _ := q.Stats(); st.Quarantined != 0 || st.QuarantineBytes != 0 {
		t.Fatalf("stats after both %+v", st)
	}
}

package backflow_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/queue"
	. "github.com/sscagent/sscagent/queue/backflow"
	"github.com/sscagent/sscagent/queue/backflow/backflowtest"
)

// The crash test's child process: it Puts records from several goroutines while the
// uploader drains them to the parent's ledger, and reports every Put that returned on
// stdout, until the parent kills it with SIGKILL.
const crashChildEnv = "SSCAGENT_BACKFLOW_CRASH_CHILD"

func crashChild() int {
	path, url, round := os.Getenv("CRASH_DB"), os.Getenv("CRASH_URL"), os.Getenv("CRASH_ROUND")
	q, err := queue.Open(path, queue.Options{Terminal: "SSC-CRASH-01", Key: testKey, LockTimeout: 20 * time.Second})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	u, err := New(Options{Store: q, Submitter: &backflowtest.Submitter{URL: url}, Config: fastConfig()})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // never killed: give up
	defer cancel()
	go func() { _ = u.Run(ctx) }()
	fmt.Println("READY")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				body := fmt.Sprintf("r%s-w%d-%d", round, w, i)
				id, err := q.Put(ctx, queue.Entry{Lane: queue.Lanes[i%3], Kind: "credential", Body: []byte(body)})
				if err != nil {
					continue
				}
				fmt.Printf("PUT %s %s\n", id, body) // one write(2): whole line or nothing
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashPutAndDrain kills a child that puts and drains records at random moments,
// many times over, with the platform sometimes down or losing answers. Afterwards every
// Put that returned is in the platform's ledger with its body, no id was handed out
// twice, and duplicates arrived only as re-sends of the same record (which the platform
// de-duplicates). SSCAGENT_CRASH_ROUNDS sets the number of rounds (default 20).
func TestCrashPutAndDrain(t *testing.T) {
	rounds := labtest.CrashRounds(20)
	dir := t.TempDir()
	path := filepath.Join(dir, "queue.db")
	l := backflowtest.NewLedger(t)
	reported := map[string]string{} // id -> body of every Put that returned
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for r := range rounds {
		l.SetDown(r%5 == 2)
		l.SetHangUp(r%5 == 4)
		lines := labtest.RunChild(t, time.Duration(20+rng.IntN(280))*time.Millisecond,
			crashChildEnv+"=1", "CRASH_DB="+path, "CRASH_URL="+l.URL(), "CRASH_ROUND="+strconv.Itoa(r))
		puts := 0
		for _, line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "PUT":
				if prev, dup := reported[f[1]]; dup {
					t.Fatalf("round %d: id %s handed out twice (%s, %s)", r, f[1], prev, f[2])
				}
				reported[f[1]] = f[2]
				puts++
			}
		}
		t.Logf("round %d: %d puts reported", r, puts)
	}

	// Recovery run: the parent opens the queue and drains what is left.
	l.SetDown(false)
	l.SetHangUp(false)
	q := openQueue(t, path)
	st, _ := q.Stats()
	if len(st.Recoveries) > 0 {
		t.Fatalf("a SIGKILL corrupted the queue: %+v", st.Recoveries)
	}
	start(t, Options{Store: q, Submitter: &backflowtest.Submitter{URL: l.URL()}, Config: fastConfig()}, nil)
	waitFor(t, "final drain", func() bool { return depth(q) == 0 })

	ledger := l.Entries()
	resent := 0
	for id, body := range reported {
		e, ok := ledger[id]
		if !ok {
			t.Errorf("record %s (%s) lost: Put returned but the platform never got it", id, body)
			continue
		}
		if string(e.Body) != body {
			t.Errorf("record %s: platform has %q, Put stored %q", id, e.Body, body)
		}
		resent += e.Sends - 1
	}
	if c := l.Conflicts(); len(c) > 0 {
		t.Fatalf("ids reused for different records: %v", c)
	}
	if qs, _ := q.Quarantined(false); len(qs) > 0 {
		t.Fatalf("records quarantined: %+v", qs)
	}
	if len(reported) < rounds {
		t.Fatalf("only %d puts in %d rounds: the test did not exercise much", len(reported), rounds)
	}
	t.Logf("%d rounds: %d puts reported, %d in the ledger, %d re-sends de-duplicated",
		rounds, len(reported), len(ledger), resent)
}

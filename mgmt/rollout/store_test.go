package rollout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeApplier accepts any document whose text does not contain "bad".
type fakeApplier struct {
	mu      sync.Mutex
	applied [][]byte
}

func (f *fakeApplier) Validate(doc []byte) ([]byte, error) {
	if strings.Contains(string(doc), "bad") {
		return nil, errors.New("bad document")
	}
	return doc, nil
}

func (f *fakeApplier) Apply(ctx context.Context, doc []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, doc)
	return nil
}

func (f *fakeApplier) Health(ctx context.Context) error { return nil }

func runUntil(t *testing.T, e *Engine, want func(Report) bool) []Report {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Report, 32)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, func(r Report) { got <- r }) }()
	var all []Report
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-got:
			all = append(all, r)
			if want(r) {
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return all
			}
		case err := <-done:
			t.Fatalf("Run ended: %v", err)
		case <-timeout:
			t.Fatalf("timeout; reports %+v", all)
		}
	}
}

func TestResumeStaged(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte("log: {level: debug}\n")
	ref := Ref{Version: 3, SHA256: Hash(doc)}
	st.state.Last = ref
	if err := st.stage(ref, doc); err != nil { // the crash came right after staging
		t.Fatal(err)
	}
	f := &fakeApplier{}
	e, err := Open(Options{Dir: dir, Applier: f, Window: time.Second, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Boot(); b.Pending || b.Doc != nil {
		t.Fatalf("a staged, never applied document must not be booted: %+v", b)
	}
	reps := runUntil(t, e, func(r Report) bool { return r.Status.Final() })
	if last := reps[len(reps)-1]; last.Status != StatusCommitted || last.Version != 3 {
		t.Fatalf("reports %+v", reps)
	}
	if len(f.applied) != 1 || string(f.applied[0]) != string(doc) {
		t.Fatalf("applied %q", f.applied)
	}
}

func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	st, _ := openStore(dir)
	good := []byte("a: 1\n")
	if err := st.commit(Ref{Version: 1, SHA256: Hash(good)}, good); err != nil {
		t.Fatal(err)
	}
	pend := []byte("a: 2\n")
	pref := Ref{Version: 2, SHA256: Hash(pend)}
	if err := st.stage(pref, pend); err != nil {
		t.Fatal(err)
	}
	if err := st.setPhase(phaseGating, ""); err != nil {
		t.Fatal(err)
	}
	// A stray temporary file and an unreferenced document are cleaned up.
	os.WriteFile(filepath.Join(dir, "doc-0000.yaml"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, ".state.json.tmp-1"), []byte("x"), 0o600)
	// The pending document is damaged: it cannot be booted, so it is rolled back.
	os.WriteFile(st.docPath(pref.SHA256), []byte("a: 3\n"), 0o600)
	f := &fakeApplier{}
	e, err := Open(Options{Dir: dir, Applier: f})
	if err != nil {
		t.Fatal(err)
	}
	if b := e.Boot(); b.Pending || string(b.Doc) != string(good) {
		t.Fatalf("boot %+v", b)
	}
	reps := runUntil(t, e, func(r Report) bool { return r.Status.Final() })
	if last := reps[len(reps)-1]; last.Status != StatusRolledBack || !strings.Contains(last.Reason, "missing or damaged") {
		t.Fatalf("reports %+v", reps)
	}
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if n := en.Name(); n != stateFile && n != "doc-"+Hash(good)+".yaml" {
			t.Errorf("stray file %s left", n)
		}
	}
	// A damaged last-known-good is an error: nothing safe to boot from here.
	os.WriteFile(st.docPath(Hash(good)), []byte("b: 1\n"), 0o600)
	if _, err := Open(Options{Dir: dir, Applier: f}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged last-known-good: %v", err)
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{"), 0o600)
	if _, err := Open(Options{Dir: dir, Applier: f}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged state: %v", err)
	}
}

func TestScreen(t *testing.T) {
	if ps := Screen(nil, DefaultImmutable); ps != nil {
		t.Fatalf("empty document: %v", ps)
	}
	if ps := Screen([]byte("- a\n- b\n"), nil); len(ps) != 1 || !strings.Contains(ps[0].Reason, "mapping") {
		t.Fatalf("list: %v", ps)
	}
	if ps := Screen([]byte("a: 1\n---\nb: 2\n"), nil); len(ps) != 1 || !strings.Contains(ps[0].Reason, "more than one") {
		t.Fatalf("two documents: %v", ps)
	}
	big := strings.Repeat("#", MaxDocSize+1)
	if ps := Screen([]byte(big), nil); len(ps) != 1 || !strings.Contains(ps[0].Reason, "bytes") {
		t.Fatalf("big: %v", ps)
	}
	ps := Screen([]byte("agent:\n  stateDir: /tmp/x\nversion: 2\nscenes:\n  - name: a\n    gate: {http: {tokenFile: \"-----BEGIN X-----\"}}\n"), DefaultImmutable)
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	if strings.Join(paths, ",") != "version,agent.stateDir,scenes[0].gate.http.tokenFile" {
		t.Fatalf("paths %v", paths)
	}
}

func FuzzScreen(f *testing.F) {
	for _, s := range []string{"", "a: 1", "log:\n  level: debug\n", "- x", "a: [1, {b: ~}]", "x: &a [*a]", "k: -----BEGIN A-----", "{", "a: 1\n---\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps := Screen(doc, DefaultImmutable)
		for _, p := range ps {
			if p.Reason == "" {
				t.Fatalf("problem without a reason: %+v", p)
			}
		}
	})
}

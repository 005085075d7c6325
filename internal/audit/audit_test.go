package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fill writes n entries to a new log and returns its directory.
func fill(t *testing.T, n int) (string, *Log) {
	t.Helper()
	dir := t.TempDir()
	l := Open(dir)
	for i := 0; i < n; i++ {
		if _, err := l.Append(Entry{Token: "kiosk-app", Endpoint: "GET /v1/reads/{id}",
			Record: fmt.Sprintf("r%02d", i), Subject: "**************1234"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, l
}

func lines(t *testing.T, dir string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CurrentFile))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte{'\n'})[:bytes.Count(b, []byte{'\n'})]
}

func write(t *testing.T, dir string, ls [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, CurrentFile), bytes.Join(ls, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantProblem asserts verification fails at line with a reason containing why.
func wantProblem(t *testing.T, err error, line int, why string) {
	t.Helper()
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("err = %v, want a *Problem at line %d (%s)", err, line, why)
	}
	if p.Line != line || !strings.Contains(p.Reason, why) {
		t.Fatalf("problem %v, want line %d: %s", p, line, why)
	}
}

func TestIntactLogVerifies(t *testing.T) {
	dir, _ := fill(t, 5)
	rep, err := VerifyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 5 || rep.Last.Seq != 5 || rep.First != 1 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := VerifyFile(filepath.Join(dir, CurrentFile)); err != nil {
		t.Fatal(err)
	}
}

// TestTamperingDetected: each way of editing the log is reported at the first line
// that shows it.
func TestTamperingDetected(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(ls [][]byte) [][]byte
		line int
		why  string
	}{
		{"altered subject", func(ls [][]byte) [][]byte {
			ls[2] = bytes.Replace(ls[2], []byte("1234"), []byte("9999"), 1)
			return ls
		}, 3, "altered"},
		{"altered and rehashed", func(ls [][]byte) [][]byte {
			var e Entry
			_ = json.Unmarshal(ls[2], &e)
			e.Token = "someone-else"
			line, _ := seal(&e)
			ls[2] = line
			return ls
		}, 4, "does not chain"},
		{"line deleted", func(ls [][]byte) [][]byte { return append(ls[:1], ls[2:]...) }, 2, "missing"},
		{"lines reordered", func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }, 2, "missing"},
		{"cut mid-line", func(ls [][]byte) [][]byte { ls[4] = ls[4][:20]; return ls }, 5, "incomplete"},
		{"last lines cut", func(ls [][]byte) [][]byte { return ls[:3] }, 4, "truncated"},
		{"foreign line inserted", func(ls [][]byte) [][]byte {
			return append(ls[:2], append([][]byte{[]byte("{\"seq\":3}\n")}, ls[2:]...)...)
		}, 3, "altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := fill(t, 5)
			write(t, dir, tc.edit(lines(t, dir)))
			_, err := VerifyDir(dir)
			wantProblem(t, err, tc.line, tc.why)
		})
	}
}

// TestFirstLineRemoved: a log whose first entry is gone does not start the chain.
func TestFirstLineRemoved(t *testing.T) {
	dir, _ := fill(t, 3)
	write(t, dir, lines(t, dir)[1:])
	_, err := VerifyDir(dir)
	wantProblem(t, err, 1, "entries 1-1 missing")
}

// TestRotationKeepsTheChain: past maxSize the file is rotated and the chain runs on;
// removing a rotated file is detected.
func TestRotationKeepsTheChain(t *testing.T) {
	dir, l := fill(t, 0)
	l.maxSize = 600
	for i := 0; i < 20; i++ {
		if _, err := l.Append(Entry{Token: "t", Endpoint: "GET /v1/reads/{id}", Record: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := Files(dir)
	if len(files) < 3 {
		t.Fatalf("files %v: no rotation", files)
	}
	rep, err := VerifyDir(dir)
	if err != nil || rep.Entries != 20 || rep.Files != len(files) {
		t.Fatalf("rotated log: %+v %v", rep, err)
	}
	if err := os.Remove(files[1]); err != nil {
		t.Fatal(err)
	}
	_, err = VerifyDir(dir)
	var p *Problem
	if !errors.As(err, &p) || !strings.Contains(p.Reason, "missing") {
		t.Fatalf("removed rotated file: %v", err)
	}
}

// TestTwoWritersShareTheLog: two writers (as the agent and the CLI are) append at once
// and the chain stays whole.
func TestTwoWritersShareTheLog(t *testing.T) {
	dir, a := fill(t, 0)
	b := Open(dir)
	a.maxSize, b.maxSize = 4000, 4000
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := l.Append(Entry{Token: "t", Endpoint: "x"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := VerifyDir(dir)
	if err != nil || rep.Entries != 100 {
		t.Fatalf("%+v %v", rep, err)
	}
}

// TestTornWriteRecovered: a crash in the middle of a line the head never acknowledged
// is cut by the next append, and the log verifies.
func TestTornWriteRecovered(t *testing.T) {
	dir, l := fill(t, 3)
	f, err := os.OpenFile(filepath.Join(dir, CurrentFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"seq":4,"time":"2026`)
	f.Close()
	if _, err := l.Append(Entry{Token: "t", Endpoint: "x"}); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyDir(dir)
	if err != nil || rep.Last.Seq != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func FuzzVerifyFile(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-01T00:00:00Z","token":"t","endpoint":"x","prev":"` + Genesis + `","hash":"00"}` + "\n"))
	f.Add([]byte("{}\n{\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v := verifier{fromStart: true}
		if err := v.read("f", bytes.NewReader(b)); err == nil && bytes.Count(b, []byte{'\n'}) != v.rep.Entries {
			t.Fatalf("%d lines verified as %d entries", bytes.Count(b, []byte{'\n'}), v.rep.Entries)
		}
	})
}

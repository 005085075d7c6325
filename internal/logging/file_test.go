package logging

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFileRotates: the file rotates before a write would pass the limit, keeps `keep`
// old files in order (newest .1) and loses no line; reopening appends.
func TestFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "sscagent.log")
	lf, err := OpenFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := func(i int) []byte { return fmt.Appendf(nil, "line %02d %s\n", i, bytes.Repeat([]byte("x"), 20)) } // 30 bytes
	for i := range 10 {
		if _, err := lf.Write(line(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lf.Close(); err != nil {
		t.Fatal(err)
	}
	// Three 30-byte lines fit in 100 bytes: lines 0-2 rotated out of the kept two.
	want := map[string]string{
		path + ".2": string(line(3)) + string(line(4)) + string(line(5)),
		path + ".1": string(line(6)) + string(line(7)) + string(line(8)),
		path:        string(line(9)),
	}
	for p, w := range want {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != w {
			t.Errorf("%s: %q %v, want %q", filepath.Base(p), b, err, w)
		}
	}
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("a third old file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	lf, err = OpenFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	lf.Write(line(10))
	lf.Close()
	if b, _ := os.ReadFile(path); string(b) != string(line(9))+string(line(10)) {
		t.Errorf("reopened: %q", b)
	}
	if _, err := OpenFile(path, 0, 1); err == nil {
		t.Error("a zero limit was accepted")
	}
}

package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the module root, seen from this package's folder.
const root = "../.."

const module = "github.com/sscagent/sscagent"

// TestEveryPackageDocumented fails when a package has no package doc comment in any of
// its non-test files.
func TestEveryPackageDocumented(t *testing.T) {
	dirs := map[string]bool{} // dir -> documented
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dirs[dir] = dirs[dir] || (f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 5 {
		t.Fatalf("found only %d packages; walking the wrong tree?", len(dirs))
	}
	for dir, ok := range dirs {
		if !ok {
			t.Errorf("package in %s has no doc comment", dir)
		}
	}
}

// layer is one entry of the layer table in docs/architecture.md.
type layer struct {
	rank   int
	prefix string // a package path relative to the module, or a parent folder of it
}

// readLayers parses the table between <!-- layers --> and <!-- /layers -->.
func readLayers(t *testing.T) []layer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	start, end := bytes.Index(b, []byte("<!-- layers -->")), bytes.Index(b, []byte("<!-- /layers -->"))
	if start < 0 || end < start {
		t.Fatal("docs/architecture.md: no <!-- layers --> table")
	}
	var out []layer
	pkg := regexp.MustCompile("`([a-z0-9/]+)`")
	sc := bufio.NewScanner(bytes.NewReader(b[start:end]))
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 5 {
			continue
		}
		rank, err := strconv.Atoi(strings.TrimSpace(cells[1]))
		if err != nil {
			continue // the header and the rule line
		}
		for _, m := range pkg.FindAllStringSubmatch(cells[3], -1) {
			out = append(out, layer{rank, m[1]})
		}
	}
	if len(out) < 8 {
		t.Fatalf("docs/architecture.md: layer table has only %d entries", len(out))
	}
	return out
}

// place returns the layer and room of a package (relative path): the most specific
// table entry naming it or a parent folder. The room is that entry's prefix.
func place(layers []layer, rel string) (layer, bool) {
	var best layer
	found := false
	for _, l := range layers {
		if (rel == l.prefix || strings.HasPrefix(rel, l.prefix+"/")) && (!found || len(l.prefix) > len(best.prefix)) {
			best, found = l, true
		}
	}
	return best, found
}

// topRoom is the first folder of a package path: two entries of one layer that share it
// (card/readers and card/cardsim) are one room.
func topRoom(prefix string) string {
	room, _, _ := strings.Cut(prefix, "/")
	return room
}

// allowed is the rule: a lower layer, or the importer's own room at its layer or lower.
func allowed(from, to layer) bool {
	return to.rank < from.rank || (to.rank == from.rank && topRoom(from.prefix) == topRoom(to.prefix))
}

func testSupport(rel string) bool { return strings.HasSuffix(filepath.Base(rel), "test") }

// TestImportRule fails when a package imports against the layers of
// docs/architecture.md: a package may import packages of a lower layer, or of its own
// room at its layer or a lower one; only tests import test-support packages; every
// package is in a layer.
func TestImportRule(t *testing.T) {
	if testing.Short() {
		t.Skip("go list of the whole module; not in -short")
	}
	layers := readLayers(t)
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rel := func(p string) (string, bool) {
		if p == module {
			return "", true
		}
		r, ok := strings.CutPrefix(p, module+"/")
		return r, ok
	}
	var problems []string
	pkgs := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkgs++
		from, _ := rel(fields[0])
		fl, ok := place(layers, from)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is in no layer of docs/architecture.md", from))
			continue
		}
		for _, imp := range fields[1:] {
			to, ours := rel(imp)
			if !ours {
				continue
			}
			if testSupport(to) {
				problems = append(problems, fmt.Sprintf("%s imports the test-support package %s (only tests may)", from, to))
				continue
			}
			if testSupport(from) {
				continue
			}
			tl, ok := place(layers, to)
			if !ok {
				continue // reported as the importer of its own line
			}
			if !allowed(fl, tl) {
				problems = append(problems, fmt.Sprintf("%s (layer %d) imports %s (layer %d)", from, fl.rank, to, tl.rank))
			}
		}
	}
	if pkgs < 20 {
		t.Fatalf("go list found only %d packages", pkgs)
	}
	slices.Sort(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// TestImportRuleCatches checks the rule itself on made-up imports, so a rule that lets
// everything through cannot pass.
func TestImportRuleCatches(t *testing.T) {
	layers := readLayers(t)
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"agent", "platform", true},
		{"platform", "agent", false},           // up
		{"queue", "payment", false},            // same layer, other room
		{"queue/backflow", "queue", true},      // same room
		{"card/readers", "card/cardsim", true}, // same room, same layer
		{"card", "card/readers", false},        // up within a room
		{"internal/event", "internal/prompt", true},
		{"internal/mask", "records", false},
	} {
		fl, _ := place(layers, c.from)
		tl, _ := place(layers, c.to)
		if ok := allowed(fl, tl); ok != c.ok {
			t.Errorf("%s -> %s allowed=%v, want %v", c.from, c.to, ok, c.ok)
		}
	}
}

package layout

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityRowsNameTests: every threat row of docs/security.md names at least one
// test, and every test it names (TestX, FuzzX, a subtest TestX/Y by its TestX) is a
// function of some _test.go file of the tree, so the table cannot claim a defence that
// is not tested.
func TestSecurityRowsNameTests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]*)\(`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != root {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Za-z0-9_]+)(?:/[^`]*)?`")
	attacker := regexp.MustCompile(`^\| \*\*([^*]+)\*\* \|`)
	attackers := map[string]int{} // attacker of the threat model -> threat rows
	rows, section := 0, ""
	for i, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
		}
		if m := attacker.FindStringSubmatch(line); m != nil && strings.Contains(section, "Who attacks") {
			attackers[m[1]] += 0
		}
		if !strings.Contains(section, "Threats, defences, tests") || !strings.HasPrefix(line, "| ") ||
			strings.HasPrefix(line, "| threat") {
			continue
		}
		for a := range attackers {
			if strings.HasPrefix(line, "| "+a) {
				attackers[a]++
			}
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			continue
		}
		rows++
		tests := named.FindAllStringSubmatch(cells[len(cells)-2], -1)
		if len(tests) == 0 {
			t.Errorf("docs/security.md:%d: the row names no test: %s", i+1, line)
		}
		for _, m := range tests {
			if !defined[m[1]] {
				t.Errorf("docs/security.md:%d: %s is not a test in the tree", i+1, m[1])
			}
		}
	}
	if rows < 10 || len(attackers) < 5 {
		t.Errorf("docs/security.md has %d threat rows and %d attackers; the tables were not found", rows, len(attackers))
	}
	for a, n := range attackers {
		if n == 0 {
			t.Errorf("docs/security.md: no threat row for the attacker %q", a)
		}
	}
}

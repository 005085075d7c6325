package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	g := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(g); err != nil {
		return "go"
	}
	return g
}

// buildLibrary builds this package with -buildmode=c-shared into out, with env added
// to the environment (a cross compiler, GOOS, GOARCH). The Go build cache keeps the
// compiled packages between runs; the link is redone each time.
func buildLibrary(t testing.TB, out string, env ...string) {
	t.Helper()
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-buildvcs=false", "-o", out, ".")
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=1"}, env...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildmode=c-shared %v: %v\n%s", env, err, b)
	}
}

// nationalFunctions returns the functions sscreader.h declares: those the library
// carries out and those that answer -13.
func nationalFunctions(t testing.TB) (supported, unsupported []string) {
	t.Helper()
	b, err := os.ReadFile("sscreader.h")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	split := strings.Index(s, "/* Not supported")
	if split < 0 {
		t.Fatal(`sscreader.h: no "/* Not supported" section`)
	}
	decl := regexp.MustCompile(`SSCR_API long SSCR_CALL (\w+)\(`)
	for _, m := range decl.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		if m[0] < split {
			supported = append(supported, name)
		} else {
			unsupported = append(unsupported, name)
		}
	}
	if len(supported) != 3 || len(unsupported) < 20 {
		t.Fatalf("sscreader.h declares %d supported and %d unsupported functions", len(supported), len(unsupported))
	}
	return supported, unsupported
}

// TestFunctionsEverywhere: every function of sscreader.h is defined in national.go,
// exercised by the C test program, and in the function table of docs/reader-library.md
// with the right code, and nothing else is defined.
func TestFunctionsEverywhere(t *testing.T) {
	supported, unsupported := nationalFunctions(t)
	all := append(slices.Clone(supported), unsupported...)
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	national, prog, doc := read("national.go"), read("testdata/readertest.c"), read("../../docs/reader-library.md")
	defined := regexp.MustCompile(`(?m)^SSCR_API long SSCR_CALL (\w+)\(`).FindAllStringSubmatch(national, -1)
	var names []string
	for _, m := range defined {
		names = append(names, m[1])
	}
	if !slices.Equal(names, all) {
		t.Errorf("national.go defines %v,\nsscreader.h declares %v", names, all)
	}
	for _, n := range all {
		if !strings.Contains(national, "EXPORT("+n+",") {
			t.Errorf("national.go: %s has no EXPORT line (32-bit Windows)", n)
		}
		want := "| -13 |"
		if slices.Contains(supported, n) {
			want = "| supported |"
		} else if !strings.Contains(prog, "FN("+n+",") {
			t.Errorf("testdata/readertest.c does not call %s", n)
		}
		if !regexp.MustCompile("(?m)^\\| `" + n + "\\(.*" + regexp.QuoteMeta(want)).MatchString(doc) {
			t.Errorf("docs/reader-library.md: no table row for `%s(...)` with %q", n, want)
		}
	}
}

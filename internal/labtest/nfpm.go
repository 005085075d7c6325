package labtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// nfpmModule is the packager `make packages` runs (Makefile NFPM).
const nfpmModule = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0"

// PackageSpec is a small package built with nfpm, the packager of packaging/linux.
type PackageSpec struct {
	Kind    string // deb or rpm
	Name    string // default sscagent
	Version string // the package version (nfpm's version, release "1")
	Arch    string // GOARCH: amd64, arm64
	// Files maps an installed path (/usr/bin/sscagent) to its contents, mode 0755.
	Files map[string][]byte
	// PostInstall, when set, is the package's postinstall script.
	PostInstall string
}

// BuildPackage builds spec into dir with nfpm (`go run` of the pinned module) and
// returns the package's path; the test is skipped (failed under CI) when Go or the
// module is not there.
func BuildPackage(t testing.TB, dir string, spec PackageSpec) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		Unavailable(t, "go not on PATH: cannot run nfpm")
	}
	if spec.Name == "" {
		spec.Name = "sscagent"
	}
	work, err := os.MkdirTemp(dir, "nfpm-")
	if err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "name: %s\narch: %s\nplatform: linux\nversion: %q\nversion_schema: none\nrelease: \"1\"\n", spec.Name, spec.Arch, spec.Version)
	y.WriteString("maintainer: test <test@example.org>\ndescription: test package\nlicense: Proprietary\ncontents:\n")
	i := 0
	for dst, body := range spec.Files {
		src := filepath.Join(work, fmt.Sprintf("f%d", i))
		i++
		if err := os.WriteFile(src, body, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&y, "  - src: %s\n    dst: %s\n    file_info: {mode: 0755}\n", src, dst)
	}
	if spec.PostInstall != "" {
		p := filepath.Join(work, "postinstall.sh")
		if err := os.WriteFile(p, []byte(spec.PostInstall), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&y, "scripts:\n  postinstall: %s\n", p)
	}
	cfg := filepath.Join(work, "nfpm.yaml")
	if err := os.WriteFile(cfg, []byte(y.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "run", nfpmModule, "package", "-f", cfg, "-p", spec.Kind, "-t", out+"/")
	if b, err := cmd.CombinedOutput(); err != nil {
		Unavailable(t, fmt.Sprintf("nfpm: %v: %s", err, b))
	}
	m, _ := filepath.Glob(filepath.Join(out, "*."+spec.Kind))
	if len(m) != 1 {
		t.Fatalf("nfpm built %v", m)
	}
	return m[0]
}

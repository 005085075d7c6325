package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// dllExports returns the names in the export table that objdump -p prints for a PE
// file ("[Ordinal/Name Pointer] Table" lines "\t[   5] iReadCardBas").
func dllExports(objdump string) []string {
	var names []string
	in := false
	for l := range strings.Lines(objdump) {
		l = strings.TrimRight(l, "\r\n")
		switch {
		case strings.HasPrefix(l, "[Ordinal/Name Pointer] Table"):
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in:
			if _, name, ok := strings.Cut(l, "] "); ok {
				names = append(names, strings.TrimSpace(name))
			}
		}
	}
	return names
}

// TestWindowsDLL builds SSCardDriver.dll for 64-bit and 32-bit Windows with the
// mingw-w64 cross compilers and checks that its export table has every national
// function of sscreader.h under its plain name (undecorated __stdcall on 32-bit, as
// vendor DLLs export them), and that the 32-bit functions pop their arguments
// (__stdcall). Without mingw-w64 the test is skipped, and fails under CI.
func TestWindowsDLL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cross build is tested on Linux")
	}
	supported, unsupported := nationalFunctions(t)
	all := append(slices.Clone(supported), unsupported...)
	for _, target := range []struct{ goarch, triplet string }{
		{"amd64", "x86_64-w64-mingw32"},
		{"386", "i686-w64-mingw32"},
	} {
		t.Run(target.goarch, func(t *testing.T) {
			cc, objdump := target.triplet+"-gcc", target.triplet+"-objdump"
			labtest.Require(t, cc, objdump)
			dll := filepath.Join(t.TempDir(), "SSCardDriver.dll")
			buildLibrary(t, dll, "CC="+cc, "GOOS=windows", "GOARCH="+target.goarch)
			out, err := exec.Command(objdump, "-p", dll).CombinedOutput()
			if err != nil {
				t.Fatalf("%s -p: %v\n%s", objdump, err, out)
			}
			exports := dllExports(string(out))
			t.Logf("%s exports %d names: %s", dll, len(exports), strings.Join(exports, " "))
			for _, n := range all {
				if !slices.Contains(exports, n) {
					t.Errorf("SSCardDriver.dll (%s) does not export %s", target.goarch, n)
				}
			}
			for _, n := range exports {
				if strings.Contains(n, "@") {
					t.Errorf("SSCardDriver.dll (%s) exports a decorated name %s", target.goarch, n)
				}
			}
			if target.goarch != "386" {
				return
			}
			// iReadCardBas(int, char*) is __stdcall: it returns with "ret $0x8".
			dis, err := exec.Command(objdump, "-d", "--no-show-raw-insn", dll).CombinedOutput()
			if err != nil {
				t.Fatalf("%s -d: %v", objdump, err)
			}
			_, body, ok := strings.Cut(string(dis), "<_iReadCardBas@8>:")
			if !ok {
				t.Fatal("no _iReadCardBas@8 in the 32-bit DLL: not __stdcall")
			}
			if fn, _, _ := strings.Cut(body, "\n\n"); !strings.Contains(fn, "ret    $0x8") {
				t.Errorf("iReadCardBas does not pop its 8 bytes of arguments:\n%s", fn)
			}
		})
	}
}

// TestLinuxARM64Library cross-builds libsscreader.so for linux/arm64 (kiosk boards)
// with gcc-aarch64-linux-gnu and checks its dynamic symbol table.
func TestLinuxARM64Library(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the cross build is tested on Linux")
	}
	labtest.Require(t, "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump")
	supported, unsupported := nationalFunctions(t)
	so := filepath.Join(t.TempDir(), "libsscreader.so")
	buildLibrary(t, so, "CC=aarch64-linux-gnu-gcc", "GOOS=linux", "GOARCH=arm64")
	out, err := exec.Command("aarch64-linux-gnu-objdump", "-T", so).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -T: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "elf64-littleaarch64") {
		t.Fatalf("not an arm64 ELF:\n%.300s", out)
	}
	for _, n := range append(slices.Clone(supported), unsupported...) {
		if !regexp.MustCompile(`(?m)\.text\s+\S+\s+(Base\s+)?` + regexp.QuoteMeta(n) + `$`).MatchString(string(out)) {
			t.Errorf("libsscreader.so (arm64) does not export %s", n)
		}
	}
}

//go:build linux && cgo

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/labtest"
)

// These tests run the sscagent binary against a real pcscd with vpcd readers, private
// to each test: the holder reader "Holder 00 00/01" and the PSAM slot "PSAM 00 00"
// (matched by the example configuration's default patterns). The binary finds the
// daemon through PCSCLITE_CSOCK_NAME; this process never uses PC/SC itself.

// serve puts an emulator into a vpcd slot until the test ends.
func serve(t *testing.T, addr string, icc cardsim.ICC) {
	t.Helper()
	in := cardsim.Insert(addr, icc, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = in.Remove() })
}

func serveProfile(t *testing.T, addr, profile string) {
	t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, addr, c)
}

func servePSAM(t *testing.T, addr string) {
	t.Helper()
	p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000042"})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, addr, p)
}

func TestCardReadRaw(t *testing.T) {
	d := labtest.PCSCDForTest(t, "Holder", "PSAM")
	t.Setenv("PCSCLITE_CSOCK_NAME", d.Socket) // for the binary runCLI starts
	cfg := writeConfig(t)
	servePSAM(t, d.Addr("PSAM", 0))
	serveProfile(t, d.Addr("Holder", 0), "lisi")

	// The readers as installers see them (the cards show within a poll of pcscd).
	deadline := time.Now().Add(5 * time.Second)
	var out, errOut string
	for {
		var code int
		out, errOut, code = runCLI(t, "readers", "--config", cfg)
		if code == 0 && strings.Contains(out, "终端机编号 350100000042") && strings.Contains(out, "Holder 00 00  holder  contact    yes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readers: exit %d\n%s\n%s", code, out, errOut)
		}
	}
	if !strings.Contains(out, "PSAM 00 00    psam    -          yes   3B6D000000544553545053350100000001") ||
		!strings.Contains(out, "Holder 00 01  holder  contact    no") {
		t.Fatalf("readers output:\n%s", out)
	}

	// --raw: exactly the 11-field line on stdout.
	out, errOut, code := runCLI(t, "card", "read", "--config", cfg, "--raw", "--timeout", "10s")
	want := "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|00544553545353350120000002|2.00|20180310|20280310|350100000042||\n"
	if code != 0 || out != want {
		t.Fatalf("card read --raw: exit %d\nstdout %q\nwant   %q\nstderr %s", code, out, want, errOut)
	}
	// --gbk: the name as the DLL's C string.
	out, errOut, code = runCLI(t, "card", "read", "--config", cfg, "--raw", "--gbk")
	gbk, _ := simplifiedchinese.GBK.NewEncoder().String(want)
	if code != 0 || out != gbk {
		t.Fatalf("card read --raw --gbk: exit %d, %x\n%s", code, out, errOut)
	}
	// Default: masked JSON.
	out, errOut, code = runCLI(t, "card", "read", "--config", cfg)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil {
		t.Fatalf("card read: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	if res["ssn"] != "**************0027" || res["authenticated"] != true || res["authBy"] != "psam" ||
		strings.Contains(out, "李四") || strings.Contains(out, "350121198511160027") {
		t.Fatalf("JSON not masked or not authenticated:\n%s", out)
	}
}

func TestCardReadFailures(t *testing.T) {
	d := labtest.PCSCDForTest(t, "Holder", "PSAM")
	t.Setenv("PCSCLITE_CSOCK_NAME", d.Socket) // for the binary runCLI starts
	cfg := writeConfig(t)
	// No card at all: -2 and the timeout prompt after --timeout.
	out, errOut, code := runCLI(t, "card", "read", "--config", cfg, "--raw", "--timeout", "300ms")
	if code != 1 || out != "" || !strings.Contains(errOut, "-2 无卡") || !strings.Contains(errOut, "[250005]") {
		t.Fatalf("no card: exit %d\n%q\n%s", code, out, errOut)
	}
	// A bank card: -1 with its prompt, nothing on stdout.
	serveProfile(t, d.Addr("Holder", 0), "bankcard")
	out, errOut, code = runCLI(t, "card", "read", "--config", cfg, "--raw", "--timeout", "10s")
	if code != 1 || out != "" || !strings.Contains(errOut, "-1 卡类型不对") || !strings.Contains(errOut, "请使用社会保障卡") ||
		!strings.Contains(errOut, "[200001]") {
		t.Fatalf("bank card: exit %d\n%q\n%s", code, out, errOut)
	}
	// A gen-2 card without PSAM and without HSM (the example's platform keys do not
	// exist here): -2201.
	serveProfile(t, d.Addr("Holder", 1), "lisi")
	_, errOut, code = runCLI(t, "card", "read", "--config", cfg, "--reader", "Holder 00 01", "--timeout", "10s", "--lang", "en")
	if code != 1 || !strings.Contains(errOut, "-2201") || !strings.Contains(errOut, "[202201]") || !strings.Contains(errOut, "No PSAM") {
		t.Fatalf("no PSAM: exit %d\n%s", code, errOut)
	}
	// A production terminal refuses the test card.
	prod := writeConfig(t, "  test: true", "  test: false")
	_, errOut, code = runCLI(t, "card", "read", "--config", prod, "--reader", "Holder 00 01", "--timeout", "10s")
	if code != 1 || !strings.Contains(errOut, "[250002]") {
		t.Fatalf("test card on production: exit %d\n%s", code, errOut)
	}
	// Usage errors.
	for _, args := range [][]string{{"card"}, {"card", "write"}, {"card", "read", "--gbk"}, {"card", "read", "--timeout", "0s"}} {
		if _, _, code := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// vicc finds Debian's vsmartcard Python emulator and prepares the two fixes it needs
// (lab.md §1): its package directory on PYTHONPATH and a Crypto -> Cryptodome shim.
func vicc(t *testing.T) []string {
	t.Helper()
	const pkg = "/usr/lib/python3/site-packages/virtualsmartcard"
	const crypto = "/usr/lib/python3/dist-packages/Cryptodome"
	labtest.Require(t, "/usr/bin/python3")
	for _, p := range []string{pkg, crypto} {
		if _, err := os.Stat(p); err != nil {
			labtest.Unavailable(t, "vsmartcard-vpicc and python3-pycryptodome are not installed (.ci/run installs them): "+err.Error())
		}
	}
	shim := t.TempDir()
	if err := os.Symlink(crypto, filepath.Join(shim, "Crypto")); err != nil {
		t.Fatal(err)
	}
	return []string{"PYTHONPATH=" + pkg + ":" + shim, "PYTHONDONTWRITEBYTECODE=1"}
}

// TestCardReadVICC reads a card that is not ours: vsmartcard's ISO 7816 emulator (vicc)
// holding an SSSE application with EF05 and EF06 records, over pcscd. vicc has no
// national keys, so it cannot pass internal authentication (the agent refuses it); the
// diagnostic read without it prints the correct 11 fields.
func TestCardReadVICC(t *testing.T) {
	pyEnv := vicc(t)
	d := labtest.PCSCDForTest(t, "Holder", "PSAM")
	t.Setenv("PCSCLITE_CSOCK_NAME", d.Socket) // for the binary runCLI starts
	cfg := writeConfig(t)
	port := strings.TrimPrefix(d.Addr("Holder", 0), "127.0.0.1:")
	py := exec.Command("/usr/bin/python3", "testdata/vicc_ssse.py", "--port", port)
	py.Env = append(os.Environ(), pyEnv...)
	var pyOut bytes.Buffer
	py.Stdout, py.Stderr = &pyOut, &pyOut
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = py.Process.Kill(); _ = py.Wait() })

	out, errOut, code := runCLI(t, "card", "read", "--config", cfg, "--raw", "--no-auth", "--timeout", "15s")
	want := "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|0081544C968684350120000002|2.00|20180310|20280310|000000000000||\n"
	if code != 0 || out != want {
		t.Fatalf("vicc card: exit %d\nstdout %q\nwant   %q\nstderr %s\nvicc: %s", code, out, want, errOut, pyOut.String())
	}
	// With authentication (the default) the card cannot prove its keys: no PSAM here,
	// so -2201; with one it would be -21 or its status word.
	_, errOut, code = runCLI(t, "card", "read", "--config", cfg, "--raw", "--timeout", "15s")
	if code != 1 || !strings.Contains(errOut, "-2201") {
		t.Fatalf("vicc card with authentication: exit %d\n%s", code, errOut)
	}
}

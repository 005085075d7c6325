//go:build cgo && linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers/pcsc"
	"github.com/sscagent/sscagent/internal/labtest"
)

// readerTest runs testdata/readertest.c, built against one build of the library.
type readerTest struct {
	t    *testing.T
	prog string
	lib  string
	env  []string
}

// buildReaderTest builds libsscreader.so and the C test program into dir.
func buildReaderTest(t *testing.T, dir string) *readerTest {
	t.Helper()
	labtest.Require(t, "gcc")
	lib := filepath.Join(dir, "libsscreader.so")
	buildLibrary(t, lib)
	prog := filepath.Join(dir, "readertest")
	cc := exec.Command("gcc", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-I.", "-o", prog, "testdata/readertest.c", "-ldl")
	if b, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("gcc readertest.c: %v\n%s", err, b)
	}
	return &readerTest{t: t, prog: prog, lib: lib}
}

func (r *readerTest) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.prog, append([]string{r.lib}, args...)...)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSCREADER_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, r.env...)
	return cmd
}

// run runs one case of the C program and fails the test with its report unless every
// check in it passed.
func (r *readerTest) run(what string, args ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := r.command(ctx, args...).CombinedOutput()
	if err != nil {
		r.t.Errorf("%s: readertest %s: %v\n%s", what, strings.Join(args, " "), err, out)
	}
}

// hsm runs the two-step case: the program's Step 1 string goes to the sandbox HSM (or
// is answered with a forged pKey), and the answer back to the program for Step 2.
func (r *readerTest) hsm(what string, forge bool, args ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := r.command(ctx, append([]string{"hsm"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	var report strings.Builder
	sc := bufio.NewScanner(io.TeeReader(stdout, &report))
	pKey := ""
	for sc.Scan() {
		if step1, ok := strings.CutPrefix(sc.Text(), "step1 "); ok {
			if pKey, err = (cardsim.HSM{}).InternalAuth(step1); err != nil {
				r.t.Errorf("%s: the sandbox HSM refused Step 1 %q: %v", what, step1, err)
			}
			if forge && len(pKey) > 16 {
				pKey = "0000000000000000" + pKey[16:]
			}
			break
		}
	}
	fmt.Fprintln(stdin, pKey)
	stdin.Close()
	_, _ = io.Copy(io.Discard, io.TeeReader(stdout, &report))
	if err := cmd.Wait(); err != nil {
		r.t.Errorf("%s: readertest hsm %s: %v\n%s", what, strings.Join(args, " "), err, report.String())
	}
}

// docLine returns the line of docs/card.md that starts with prefix (the 11-field strings
// and the Step 1 example of the shared test cards).
func docLine(t *testing.T, prefix string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/card.md")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			return strings.Trim(l, "`")
		}
	}
	t.Fatalf("docs/card.md has no line starting %q", prefix)
	return ""
}

// TestReaderLibrary: the C test program loads libsscreader.so and reads the virtual
// cards over pcscd+vpcd through a running agent: iReadCardBas in contact and auto modes
// gives the 11-field strings of docs/card.md byte for byte (GBK), the HSM two-step
// carries 张三 from Step 1 to Step 2 across two calls, and a missing card, a wrong card,
// a busy reader, a refused token, an agent that is not running and a Step 2 without
// Step 1 give the interface's codes; a Step 1 never followed by Step 2 does not hold the
// card from the next read. Every call's output stays within its size.
func TestReaderLibrary(t *testing.T) {
	r := buildReaderTest(t, t.TempDir())
	ta := startAgent(t)
	r.env = []string{"SSCREADER_ADDR=" + ta.addr, "SSCREADER_TOKEN_FILE=" + ta.tokenFile}
	lisi := docLine(t, "350100|350121198511160027|")
	zhangsan := docLine(t, "350100|350102199003077898|")
	step1 := strings.Join(strings.SplitAfterN(docLine(t, "350100|00544553545353350130000001|"), "|", 5)[:4], "")

	r.run("not supported", "unsupported")
	r.run("bad arguments", "args")
	r.run("step 2 without step 1", "step2", "00", "-12", "^未建立连接：")
	r.run("no card", "read", "1", "-2", "=无卡")

	pull := ta.put("lisi")
	r.run("contact", "read", "1", "0", "="+lisi)
	r.run("auto, contact first", "read", "3", "0", "="+lisi)
	r.run("auto, contactless first", "read", "4", "0", "="+lisi)
	r.run("contactless without a contactless reader", "read", "2", "-11", "=读卡器连接错")

	// Another program holds the card exclusively.
	sys, err := pcsc.Open(pcsc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	held, err := sys.Connect(context.Background(), labtest.Reader("Holder", 0), true)
	if err != nil {
		t.Fatal(err)
	}
	r.run("busy reader", "read", "1", "-11", "=读卡器连接错")
	_ = held.Close(false)
	_ = sys.Close()
	r.run("reader free again", "read", "1", "0", "="+lisi)
	pull()

	pull = ta.put("bankcard")
	r.run("not a social security card", "read", "3", "-1", "=卡类型不对")
	pull()

	pull = ta.put("zhangsan")
	defer pull()
	r.hsm("hsm two-step", false, "1", "0", "^"+step1, "0", "="+zhangsan)
	r.hsm("hsm forged pKey", true, "3", "0", "^"+step1, "-21", "=内部认证失败(用户卡不合法)")
	r.run("step 2 again", "step2", "00", "-12", "^未建立连接：")
	// A program that ends after Step 1 leaves the agent holding the card for Step 2;
	// the next read takes the card over at once (not after cards.readTimeout).
	r.run("step 1 only", "step1", "1", "0", "^"+step1)
	r.run("read after an abandoned step 1", "read", "1", "0", "^350100|350102199003077898|")

	// The token beside the library, a refused token, no agent.
	beside := *r
	beside.lib = filepath.Join(t.TempDir(), "libsscreader.so")
	copyFile(t, r.lib, beside.lib)
	copyFile(t, ta.tokenFile, filepath.Join(filepath.Dir(beside.lib), "sscreader.token"))
	beside.env = []string{"SSCREADER_ADDR=" + ta.addr}
	beside.run("token beside the library", "read", "1", "0", "^350100|350102199003077898|")
	wrong := filepath.Join(t.TempDir(), "wrong.token")
	if err := os.WriteFile(wrong, []byte("not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := *r
	refused.env = []string{"SSCREADER_ADDR=" + ta.addr, "SSCREADER_TOKEN_FILE=" + wrong}
	refused.run("refused token", "read", "1", "-11", "^读卡器连接错：sscagent 拒绝了令牌")
	refused.env = []string{"SSCREADER_ADDR=" + ta.addr, "SSCREADER_TOKEN_FILE=" + wrong + ".missing"}
	refused.run("no token file", "read", "1", "-11", "^读卡器连接错：读不到令牌文件")
	refused.env = []string{fmt.Sprintf("SSCREADER_ADDR=127.0.0.1:%d", labtest.FreePort(t)), "SSCREADER_TOKEN_FILE=" + ta.tokenFile}
	refused.run("no agent", "read", "1", "-11", "^读卡器连接错：无法连接 sscagent")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

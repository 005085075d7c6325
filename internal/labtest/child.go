package labtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// CrashRounds returns the number of kill rounds a crash test runs: the
// SSCAGENT_CRASH_ROUNDS environment variable, or def. Defaults stay small so that the
// test suite stays fast; set the variable to soak.
func CrashRounds(def int) int {
	if n, err := strconv.Atoi(os.Getenv("SSCAGENT_CRASH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return def
}

// SpawnChild starts the test binary again as a child process with env added and no
// test selected, so that its TestMain plays the role env names. The child's standard
// error goes to the test's; SpawnChild returns the process, a pipe to its standard
// input (nil unless withStdin) and one from its standard output.
func SpawnChild(t testing.TB, withStdin bool, env ...string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout io.ReadCloser) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	dieWithTest(cmd)
	var err error
	if withStdin {
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if stdout, err = cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stdout
}

// RunChild runs the test binary again as a child process with env added; the child's
// TestMain recognises its role from env and plays it. With kill > 0 the child is killed
// (SIGKILL: no deferred code, no flush) that long after the start; with 0 it runs to its
// end. RunChild returns the complete lines the child wrote to standard output (a line
// cut by the kill is dropped); a line starting with "ERROR" fails t. The child's
// standard error goes to the test's.
//
// A child reports what it did one line per event, written with one write(2) (fmt.Printf
// of a short line to os.Stdout), so the parent sees every event the child completed.
func RunChild(t testing.TB, kill time.Duration, env ...string) []string {
	t.Helper()
	cmd, _, out := SpawnChild(t, false, env...)
	lines := make(chan []string, 1)
	go func() {
		var ls []string
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ls = append(ls, sc.Text())
		}
		lines <- ls
	}()
	if kill > 0 {
		time.Sleep(kill)
		_ = cmd.Process.Kill()
	}
	ls := <-lines
	_ = cmd.Wait()
	for _, l := range ls {
		if strings.HasPrefix(l, "ERROR") {
			t.Fatalf("child %v: %s", env, l)
		}
	}
	return ls
}

// StartChild runs the test binary again as a child process with env added, like
// RunChild, and waits until the child has written "READY" (ChildReady): the child then
// holds whatever it set up (a locked file, a listener) until stop, which closes its
// standard input and waits for it to exit. stop also runs when the test ends.
func StartChild(t testing.TB, env ...string) (stop func()) {
	t.Helper()
	cmd, in, out := SpawnChild(t, true, env...)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = in.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "READY\n" {
		stop()
		t.Fatalf("child %v did not get ready: %q %v", env, line, err)
	}
	return stop
}

// ChildReady is the child side of StartChild: it reports READY and blocks until the
// parent calls stop (its standard input closes).
func ChildReady() {
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

//go:build linux

package demo_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/demo"
)

var idleFor = flag.Duration("idle", time.Minute, "BenchmarkIdleFootprint: how long the daemon idles while measured")

// BenchmarkIdleFootprint measures the running daemon: "sscagent run" on the demo's
// configuration (sandbox platform, broker and gate hook in this process; virtual
// readers and both scanners in the daemon), left idle after start. It reads the
// daemon's CPU time from /proc/PID/task/*/schedstat at the start and the end of the
// window and its memory from /proc/PID/status at the end. One run, whatever b.N:
//
//	go test ./demo/ -run XXX -bench IdleFootprint -benchtime 1x -idle 120s -v
func BenchmarkIdleFootprint(b *testing.B) {
	env, err := demo.Setup(context.Background(), demo.EnvOptions{Dir: filepath.Join(b.TempDir(), "demo"), ListenAPI: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	bin := filepath.Join(b.TempDir(), "sscagent")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/sscagent").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--config", env.ConfigPath)
	stdin, err := cmd.StdinPipe() // the stdin scanner's device, open all along
	if err != nil {
		b.Fatal(err)
	}
	defer stdin.Close()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "sscagent ready") {
				close(ready)
				once = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		b.Fatal("the daemon was not ready within 30s")
	}
	pid := cmd.Process.Pid
	time.Sleep(5 * time.Second) // settle: first telemetry, platform and broker sessions
	cpu0, ns0, at0 := cpuTicks(b, pid), cpuNanos(b, pid), time.Now()
	time.Sleep(*idleFor)
	cpu1, ns1, at1 := cpuTicks(b, pid), cpuNanos(b, pid), time.Now()
	st := status(b, pid)
	window := at1.Sub(at0)
	b.Logf("idle %s: CPU %.4f%% of one core (%s on CPU by schedstat; %d ticks of stat), VmRSS %s (RssAnon %s, RssFile %s), VmHWM %s, threads %s",
		window.Round(time.Second), float64(ns1-ns0)/float64(window.Nanoseconds())*100, time.Duration(ns1-ns0).Round(time.Microsecond),
		cpu1-cpu0, st["VmRSS"], st["RssAnon"], st["RssFile"], st["VmHWM"], st["Threads"])
	b.ReportMetric(float64(ns1-ns0)/1e6/window.Minutes(), "cpu-ms/min")
	b.ReportMetric(kib(b, st["VmRSS"])/1024, "rss-MiB")
	b.ReportMetric(kib(b, st["RssAnon"])/1024, "anon-MiB")
}

// cpuNanos returns the time pid's live threads spent on a CPU, in nanoseconds
// (/proc/PID/task/*/schedstat, finer than the ticks of /proc/PID/stat).
func cpuNanos(t testing.TB, pid int) int64 {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no schedstat for %d: %v", pid, err)
	}
	var sum int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("%s: %q", p, b)
		}
		sum += n
	}
	return sum
}

// cpuTicks returns utime+stime of pid in clock ticks (USER_HZ, 100 per second).
func cpuTicks(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields start after its closing parenthesis.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, err1 := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	s, err2 := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return u + s
}

// status returns the fields of /proc/PID/status.
func status(t testing.TB, pid int) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// kib parses a /proc/PID/status size ("21536 kB").
func kib(t testing.TB, v string) float64 {
	n, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	if err != nil {
		t.Fatalf("size %q", v)
	}
	return n
}

//go:build linux

package fleetsim_test

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt/console"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/fleetsim"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
)

// The scale benchmark's settings (make fleet-scale-bench sets them).
const (
	envTerminals = "SSCAGENT_SCALE_BENCH"   // terminals; unset: the benchmark is skipped
	envBroker    = "SSCAGENT_SCALE_BROKER"  // mosquitto (default) or nats (a 3-node cluster)
	envStagger   = "SSCAGENT_SCALE_STAGGER" // pause between two terminals' starts (default 1ms)
	// The simulator child's role (TestMain): its brokers, terminals and directory.
	envChild    = "SSCAGENT_SCALE_CHILD"
	envChildN   = "SSCAGENT_SCALE_CHILD_TERMINALS"
	envChildDir = "SSCAGENT_SCALE_CHILD_DIR"
)

// stagger is the pause between two terminals' starts: envStagger, default 1ms.
func stagger() (time.Duration, error) {
	v := os.Getenv(envStagger)
	if v == "" {
		return time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a duration such as 10ms", envStagger, v)
	}
	return d, nil
}

func TestMain(m *testing.M) {
	if brokers := os.Getenv(envChild); brokers != "" {
		os.Exit(simulate(brokers))
	}
	os.Exit(m.Run())
}

// simulate is the simulator child of TestFleetScale: it runs the fleet, reports
// "STARTED seconds heapBytes goroutines" once every terminal is started, and stops the
// fleet cleanly when its standard input closes. Its terminals log warnings and errors
// to sim.log in its directory.
func simulate(brokers string) int {
	n, _ := strconv.Atoi(os.Getenv(envChildN))
	dir := os.Getenv(envChildDir)
	logf, err := os.Create(filepath.Join(dir, "sim.log"))
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return 1
	}
	defer logf.Close()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	t0 := time.Now()
	st, err := stagger()
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return 1
	}
	f, err := fleetsim.Start(context.Background(), fleetsim.Options{Brokers: strings.Split(brokers, ","), Terminals: n, Dir: dir, Stagger: st,
		Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Printf("ERROR %v\n", err)
		return 1
	}
	took := time.Since(t0)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("STARTED %.3f %d %d\n", took.Seconds(), after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc), runtime.NumGoroutine()-g0)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := f.Stop(); err != nil {
		fmt.Fprintf(logf, "stop: %v\n", err)
	}
	return 0
}

// TestFleetScale is the fleet scale benchmark (docs/benchmarks.md): N simulated
// terminals (real mgmt.Sessions, fleetsim, in a child process so that the manager's
// figures are its own) on one mosquitto or on a 3-node NATS cluster, and on the
// manager's side a fleet client and the web console in this process. It measures the
// time until the console (the fleet client's Follow) sees all N online, fleet List over
// N, the manager's memory and CPU per terminal, the console's terminal table in headless
// Chromium at N live terminals, and a configuration push to all N until every one
// reported committed, and prints them as a table. It fails when a step does not
// complete (after printing what it measured and the simulator's most frequent log
// lines).
//
//	make fleet-scale-bench FLEET_SCALE=10000 BROKER=mosquitto
func TestFleetScale(t *testing.T) {
	v := os.Getenv(envTerminals)
	if v == "" {
		t.Skip("the scale benchmark runs with make fleet-scale-bench (FLEET_SCALE=N terminals, BROKER=mosquitto|nats)")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		t.Fatalf("%s=%q: want a number of terminals >= 10", envTerminals, v)
	}
	kind := cmp.Or(os.Getenv(envBroker), "mosquitto")
	st, err := stagger()
	if err != nil {
		t.Fatal(err)
	}
	// The simulator and a broker each hold a socket per terminal (the simulator's files
	// are opened and closed); twice that leaves room.
	if got, err := labtest.RaiseOpenFiles(uint64(2*n + 4096)); err != nil && got < uint64(n+2048) {
		t.Fatal(err)
	}
	r := &report{t: t, n: n}
	r.add("machine", fmt.Sprintf("%d cores, %s, %s/%s; load at start %s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAvg()))
	defer r.print()

	var simBrokers []string
	var fleetBroker string
	var brokerPIDs func() []int
	switch kind {
	case "mosquitto":
		mq := labtest.StartMosquitto(t, labtest.MosquittoOptions{Extra: []string{
			"max_queued_messages 0", // the fleet's listing reads every retained message (docs/mgmt-protocol.md §11)
			"max_connections -1",
		}})
		simBrokers, fleetBroker = []string{mq.URL}, mq.URL
		brokerPIDs = func() []int { return []int{mq.PID()} }
		r.add("broker", "one mosquitto on loopback")
	case "nats":
		cl := labtest.StartNATSCluster(t, 3, labtest.NATSOptions{})
		defer func() {
			if t.Failed() {
				t.Logf("NATS logs:\n%s", cl.Logs())
			}
		}()
		simBrokers, fleetBroker = cl.MQTTURLs(0), strings.Join(cl.MQTTURLs(2), ",")
		brokerPIDs = func() []int { return []int{cl.Nodes[0].PID(), cl.Nodes[1].PID(), cl.Nodes[2].PID()} }
		r.add("broker", "3 nats-server nodes (JetStream, MQTT gateway, stream and consumer replicas 3), terminals spread over them")
	default:
		t.Fatalf("%s=%q: want mosquitto or nats", envBroker, kind)
	}

	// The manager: a fleet client and the console, before any terminal exists.
	runtime.GC()
	var mem0 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	rss0, _ := labtest.SelfUsage()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fc, err := fleet.Dial(ctx, fleet.Options{Broker: fleetBroker})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	base, token, srv := startConsole(t, ctx, fc)

	// The terminals.
	simDir := t.TempDir()
	start := time.Now()
	child, stdin, stdout := labtest.SpawnChild(t, true, envChild+"="+strings.Join(simBrokers, ","),
		envChildN+"="+strconv.Itoa(n), envChildDir+"="+simDir)
	t.Cleanup(func() { // stops every terminal cleanly while the broker still runs
		_ = stdin.Close()
		_ = child.Wait()
	})
	defer func() {
		if t.Failed() {
			t.Logf("simulator log, most frequent lines:\n%s", summarizeLog(filepath.Join(simDir, "sim.log")))
		}
	}()
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "STARTED ") || strings.HasPrefix(l, "ERROR ") {
				started <- l
			}
		}
	}()

	// Online as the console sees them (its model, fed by Follow).
	online := func() int { return srv.Model().Table(console.Query{Size: 1}).Counts[fleet.Online] }
	var simStarted string
	var half, all time.Duration
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := start.Add(5 * time.Minute); all == 0; {
		select {
		case l := <-started:
			if strings.HasPrefix(l, "ERROR") {
				t.Fatalf("simulator: %s", l)
			}
			simStarted = l
		case <-tick.C:
		}
		k := online()
		if half == 0 && k >= n/2 {
			half = time.Since(start)
		}
		if k == n {
			all = time.Since(start)
		}
		if time.Now().After(deadline) {
			r.add("online in the console after 5 min", fmt.Sprintf("**%d of %d** (failed)", k, n))
			t.Fatalf("only %d of %d terminals online after 5 minutes", k, n)
		}
	}
	if simStarted == "" { // all online before Start returned (its 1 ms stagger, a GC)
		select {
		case simStarted = <-started:
		case <-time.After(2 * time.Minute):
			t.Fatal("the simulator did not report its start")
		}
	}
	var simSecs float64
	var simHeap, simGoroutines int64
	if f := strings.Fields(simStarted); len(f) == 4 {
		simSecs, _ = strconv.ParseFloat(f[1], 64)
		simHeap, _ = strconv.ParseInt(f[2], 10, 64)
		simGoroutines, _ = strconv.ParseInt(f[3], 10, 64)
	}
	r.add(fmt.Sprintf("simulator: all built and started (%v stagger)", st), secs(time.Duration(simSecs*float64(time.Second))))
	r.add("online in the console (Follow): half / all, from the simulator's start", secs(half)+" / **"+secs(all)+"**")

	// fleet list over N.
	_, cpuL0 := labtest.SelfUsage()
	var memL0 runtime.MemStats
	runtime.ReadMemStats(&memL0)
	var lists []time.Duration
	for range 3 {
		lctx, lcancel := context.WithTimeout(ctx, time.Minute)
		t0 := time.Now()
		ts, err := fc.List(lctx, nil)
		lcancel()
		if err != nil {
			t.Fatalf("fleet list: %v", err)
		}
		lists = append(lists, time.Since(t0))
		if on := countOnline(ts); len(ts) != n || on != n {
			t.Fatalf("fleet list: %d terminals, %d online, want %d", len(ts), on, n)
		}
	}
	_, cpuL1 := labtest.SelfUsage()
	var memL1 runtime.MemStats
	runtime.ReadMemStats(&memL1)
	slices.Sort(lists)
	r.add("`List` of all N (retained state, telemetry, reports; sync marker), 3 runs", fmt.Sprintf("**%s–%s**, %.2f s CPU and %.0f MiB allocated each",
		ms(lists[0]), ms(lists[2]), (cpuL1-cpuL0)/3, float64(memL1.TotalAlloc-memL0.TotalAlloc)/3/(1<<20)))

	// The manager's memory with the console's model of N terminals, and its CPU while
	// the fleet runs (telemetry every 30 s: N/30 messages/s into the console).
	runtime.GC()
	var mem1 runtime.MemStats
	runtime.ReadMemStats(&mem1)
	rss1, cpu0 := labtest.SelfUsage()
	simRSS0, simCPU0 := labtest.ProcStat(child.Process.Pid)
	brokerCPU0, brokerRSS0 := brokerUsage(brokerPIDs())
	w0 := time.Now()
	<-time.After(30 * time.Second) // the steady window being measured, not a wait for a condition
	wall := time.Since(w0).Seconds()
	_, cpu1 := labtest.SelfUsage()
	simRSS1, simCPU1 := labtest.ProcStat(child.Process.Pid)
	brokerCPU1, _ := brokerUsage(brokerPIDs())
	r.add("manager (fleet client + console), memory per terminal", fmt.Sprintf("**%.1f KiB heap**, %.1f KiB RSS (%.0f MiB heap, %.0f MiB RSS for N)",
		float64(mem1.HeapAlloc-min(mem0.HeapAlloc, mem1.HeapAlloc))/float64(n)/1024, float64(rss1-min(rss0, rss1))/float64(n)/1024,
		float64(mem1.HeapAlloc)/(1<<20), float64(rss1)/(1<<20)))
	r.add("manager CPU per terminal, steady (30 s window, telemetry every 30 s)", fmt.Sprintf("**%.4f %%** of one core (%.1f %% for N)",
		100*(cpu1-cpu0)/wall/float64(n), 100*(cpu1-cpu0)/wall))
	r.add("simulator per terminal", fmt.Sprintf("%.0f KiB heap, %.0f KiB RSS, %d goroutines, %.4f %% of one core (%.1f %% for N)",
		float64(simHeap)/float64(n)/1024, float64(max(simRSS0, simRSS1))/float64(n)/1024, simGoroutines/int64(n),
		100*(simCPU1-simCPU0)/wall/float64(n), 100*(simCPU1-simCPU0)/wall))
	r.add("broker (all nodes) per terminal", fmt.Sprintf("%.1f KiB RSS, %.4f %% of one core (%.1f %% for N)",
		float64(brokerRSS0)/float64(n)/1024, 100*(brokerCPU1-brokerCPU0)/wall/float64(n), 100*(brokerCPU1-brokerCPU0)/wall))

	// The console's terminal table in headless Chromium.
	loads := tablePageLoads(t, base, token, n, 5)
	slices.Sort(loads)
	r.add("console table in Chromium: open (logged in) until the first 50 rows of N, 5 loads", fmt.Sprintf("median **%s**, max %s", ms(loads[2]), ms(loads[4])))

	// A configuration push to all N, until every one reported committed.
	ids, err := fc.Resolve(ctx, []string{"SIM-*"})
	if err != nil || len(ids) != n {
		t.Fatalf("resolve: %d ids, %v", len(ids), err)
	}
	_, cpuP0 := labtest.SelfUsage()
	t0 := time.Now()
	res, err := fc.PushConfig(ctx, ids, []byte("log:\n  level: debug\n"), fleet.PushOptions{Timeout: 4 * time.Minute})
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	_, cpuP1 := labtest.SelfUsage()
	var memP runtime.MemStats
	runtime.ReadMemStats(&memP)
	statuses := map[string]int{}
	var example []string
	for _, p := range res {
		statuses[p.Status]++
		if !p.OK() && len(example) < 5 {
			example = append(example, fmt.Sprintf("%s %s: %s", p.ID, p.Status, p.Reason))
		}
	}
	r.add("`PushConfig` to all N until each reported its outcome", fmt.Sprintf("**%s**: %s; manager %.1f s CPU, heap %.0f MiB after",
		secs(took), formatCounts(statuses), cpuP1-cpuP0, float64(memP.HeapAlloc)/(1<<20)))
	r.add("load at the end", loadAvg())
	if statuses["committed"] != n {
		t.Fatalf("push: %d of %d committed (%s); e.g. %s", statuses["committed"], n, formatCounts(statuses), strings.Join(example, "; "))
	}
}

// startConsole serves the console for fc on a loopback port and returns its address, a
// manager token and the server.
func startConsole(t *testing.T, ctx context.Context, fc *fleet.Client) (base, token string, srv *console.Server) {
	t.Helper()
	token = "0123456789abcdef-scale-bench"
	mgr, audit := mgmttest.ConsoleParts(t, token)
	srv, err := console.New(console.Options{Fleet: fc, Managers: []console.Manager{mgr}, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan struct{})
	sctx, stop := context.WithCancel(ctx)
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, console.ServeOptions{Listen: "127.0.0.1:0", Ready: func(a string) { ready <- a }}); err != nil {
			t.Error(err)
			ready <- ""
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	if base = <-ready; base == "" {
		t.FailNow()
	}
	return base, token, srv
}

// tablePageLoads logs into the console in headless Chromium and opens the terminal
// table k times, each until the first page of 50 rows of n terminals is shown.
func tablePageLoads(t *testing.T, base, token string, n, k int) []time.Duration {
	t.Helper()
	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(labtest.Chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	full := fmt.Sprintf(`document.querySelector('#summary') && document.querySelector('#summary').textContent.startsWith('%d of %d terminals') && document.querySelectorAll('#rows tr').length === 50`, n, n)
	until := func() {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](full, chromedp.WithPollingTimeout(time.Minute))); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS("#view")))
			t.Fatalf("console table: %v\n%.600s", err, page)
		}
	}
	do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#login-form button")))
	until()
	var out []time.Duration
	for range k {
		do(chromedp.Navigate("about:blank"))
		t0 := time.Now()
		do(chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(chromedp.ID("terminals")))
		until()
		out = append(out, time.Since(t0))
	}
	return out
}

// report collects the benchmark's rows and prints them as a Markdown table.
type report struct {
	t    *testing.T
	n    int
	rows [][2]string
}

func (r *report) add(what, value string) { r.rows = append(r.rows, [2]string{what, value}) }

func (r *report) print() {
	var b strings.Builder
	fmt.Fprintf(&b, "\n| measure | %d terminals |\n|---|---|\n", r.n)
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	r.t.Log(b.String())
}

func countOnline(ts []fleet.Terminal) int {
	k := 0
	for _, tm := range ts {
		if tm.Presence == fleet.Online {
			k++
		}
	}
	return k
}

// brokerUsage sums the CPU time and RSS of the broker processes.
func brokerUsage(pids []int) (cpuSeconds float64, rss uint64) {
	for _, pid := range pids {
		r, c := labtest.ProcStat(pid)
		cpuSeconds, rss = cpuSeconds+c, rss+r
	}
	return cpuSeconds, rss
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
func ms(d time.Duration) string   { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

var logNoise = regexp.MustCompile(`time=\S+ |terminal=\S+ |SIM-\d+|:\d{2,5}\b|\b\d+(\.\d+)?(ms|s|µs)\b`)

// summarizeLog returns the ten most frequent lines of the simulator's log, with
// times, terminal ids, ports and durations taken out so that alike lines count
// together.
func summarizeLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	count := map[string]int{}
	for l := range strings.Lines(string(b)) {
		count[logNoise.ReplaceAllString(strings.TrimSpace(l), "")]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(count[b], count[a]) })
	var out strings.Builder
	for _, k := range keys[:min(10, len(keys))] {
		fmt.Fprintf(&out, "%6d× %.300s\n", count[k], k)
	}
	return out.String()
}

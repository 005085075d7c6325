//go:build linux

package fleet_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
)

// TestIntegrationFleetScale runs many simulated terminals against one local mosquitto.
// Each is a real mgmt.Session, exactly as the agent runs it: its own state directory
// and persisted epoch, a will, a retained birth, telemetry every second, a rollout
// engine subscribed to its desired configuration and validating with the agent's rules.
// The fleet client must list all of them online, push one configuration to the whole
// group and see every terminal commit it, and see the ones that stop go offline.
//
// The default is 100 terminals (it runs in every "make test", under -race). For the
// recorded run (docs/benchmarks.md) set SSCAGENT_FLEET_SCALE=1000 and run without
// -race, which also measures CPU and memory per terminal over a steady window:
//
//	SSCAGENT_FLEET_SCALE=1000 go test ./mgmt/fleet/ -run FleetScale -count 1 -v
func TestIntegrationFleetScale(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against mosquitto")
	}
	n, measure := 100, false
	if s := os.Getenv("SSCAGENT_FLEET_SCALE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10 {
			t.Fatalf("SSCAGENT_FLEET_SCALE=%q: want a number >= 10", s)
		}
		n, measure = v, true
	}
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	// Build every terminal first so that the measurement covers only running sessions.
	sims := newSims(t, n, simOptions{Brokers: func(int) []string { return []string{b.URL} }})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	rssBefore, _ := labtest.SelfUsage()
	goBefore := runtime.NumGoroutine()
	brokerRSS0, _ := labtest.ProcStat(b.PID())

	start := time.Now()
	startSims(t, sims)

	c, err := fleet.Dial(context.Background(), fleet.Options{Broker: b.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list := func() ([]fleet.Terminal, time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		t0 := time.Now()
		ts, err := c.List(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ts, time.Since(t0)
	}
	count := func(ts []fleet.Terminal, presence string, telemetry bool) int {
		k := 0
		for _, tm := range ts {
			if tm.Presence == presence && (!telemetry || tm.Telemetry != nil) {
				k++
			}
		}
		return k
	}
	var ts []fleet.Terminal
	var listTook time.Duration
	for deadline := time.Now().Add(2 * time.Minute); ; {
		ts, listTook = list()
		if len(ts) == n && count(ts, fleet.Online, true) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d terminals online with telemetry", count(ts, fleet.Online, true), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	allOnline := time.Since(start)
	t.Logf("%d terminals online with birth and telemetry after %v; fleet list of %d took %v", n, allOnline.Round(time.Millisecond), len(ts), listTook.Round(time.Millisecond))

	if measure {
		// Steady state: every terminal sends telemetry each second.
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		rssAfter, _ := labtest.SelfUsage()
		goAfter := runtime.NumGoroutine()
		_, brokerCPU0 := labtest.ProcStat(b.PID())
		_, cpu0 := labtest.SelfUsage()
		wall0 := time.Now()
		<-time.After(20 * time.Second)
		_, cpu1 := labtest.SelfUsage()
		wall := time.Since(wall0).Seconds()
		brokerRSS1, brokerCPU1 := labtest.ProcStat(b.PID())
		t.Logf("memory per terminal: heap %.1f KiB, RSS %.1f KiB, %.1f goroutines",
			float64(after.HeapAlloc-before.HeapAlloc)/float64(n)/1024, float64(rssAfter-rssBefore)/float64(n)/1024,
			float64(goAfter-goBefore)/float64(n))
		t.Logf("CPU (agents, telemetry every 1s): %.3f%% of one core per terminal (%.2f cores for %d)",
			100*(cpu1-cpu0)/wall/float64(n), (cpu1-cpu0)/wall, n)
		t.Logf("mosquitto: RSS %.0f KiB total (%.1f KiB per terminal), CPU %.3f%% of one core per terminal",
			float64(brokerRSS1)/1024, float64(brokerRSS1-min(brokerRSS0, brokerRSS1))/float64(n)/1024,
			100*(brokerCPU1-brokerCPU0)/wall/float64(n))
	}

	// One configuration for the whole group.
	ids, err := c.Resolve(context.Background(), []string{"SIM-*"})
	if err != nil || len(ids) != n {
		t.Fatalf("resolve: %d ids, %v", len(ids), err)
	}
	t0 := time.Now()
	res, err := c.PushConfig(context.Background(), ids, []byte("log:\n  level: debug\n"), fleet.PushOptions{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, r := range res {
		if r.Status != "committed" {
			bad++
			if bad < 5 {
				t.Errorf("%s: %s %s", r.ID, r.Status, r.Reason)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d terminals did not commit", bad, n)
	}
	t.Logf("push-config to %d terminals: all committed (health gate passed) in %v", n, time.Since(t0).Round(time.Millisecond))

	// The last tenth stops: the fleet sees exactly those offline.
	k := n / 10
	for _, sm := range sims[n-k:] {
		sm.cancel()
		if err := <-sm.done; err != nil {
			t.Fatal(err)
		}
		sm.cancel = nil
	}
	ts, _ = list()
	if on, off := count(ts, fleet.Online, false), count(ts, fleet.Offline, false); on != n-k || off != k {
		t.Fatalf("after stopping %d: %d online, %d offline", k, on, off)
	}
	for _, tm := range ts[n-k:] {
		if tm.Presence != fleet.Offline || tm.State.Reason != mgmt.ReasonShutdown || !strings.HasPrefix(tm.ID, "SIM-") {
			t.Fatalf("%+v", tm)
		}
	}
}

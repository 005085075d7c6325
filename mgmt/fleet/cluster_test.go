//go:build linux

package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// TestIntegrationFleetCluster runs simulated terminals against a 3-node NATS cluster
// (JetStream, MQTT gateway; clients are plain MQTT 3.1.1 through paho), each terminal
// with all three nodes in mgmt.brokers, spread over them. While the fleet pushes a
// configuration to every terminal and runs a command on every terminal, one node is
// killed (SIGKILL). It shows: every terminal of that node is back online with a new
// epoch within 30 s of the kill, the rollout ends with each terminal committed or rolled
// back (none stuck), and no command ran twice or answered twice. Commands lost with the
// node and a fleet view that lags behind the terminals are logged as FINDING lines (seen
// with nats-server 2.9.10, docs/mgmt-protocol.md §11.1).
//
// It takes minutes, so it runs from "make fleet-cluster-test" (CI runs it):
//
//	SSCAGENT_FLEET_CLUSTER=1000 go test ./mgmt/fleet/ -run FleetCluster -count 1 -v
func TestIntegrationFleetCluster(t *testing.T) {
	v := os.Getenv("SSCAGENT_FLEET_CLUSTER")
	if v == "" {
		t.Skip("the cluster test runs with make fleet-cluster-test (SSCAGENT_FLEET_CLUSTER=N terminals)")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 30 {
		t.Fatalf("SSCAGENT_FLEET_CLUSTER=%q: want a number of terminals >= 30", v)
	}
	cl := labtest.StartNATSCluster(t, 3, labtest.NATSOptions{})
	defer func() {
		if t.Failed() {
			t.Logf("NATS logs:\n%s", cl.Logs())
		}
	}()

	var logs labtest.Output
	var executed sync.Map // terminal id -> *atomic.Int32: runs of the "count" command
	var total atomic.Int64
	sims := newSims(t, n, simOptions{
		Brokers: func(i int) []string { return cl.MQTTURLs(i % 3) },
		// Terminals that have been up a while (longer than stableAfter, 2m by default,
		// which this test cannot wait): a lost connection resets their backoff. The
		// first attempt still waits up to firstDelayMax (10s), spreading the storm.
		Reconnect: mgmt.Reconnect{StableAfter: config.Duration(time.Second)},
		// The default telemetry interval: on NATS every QoS 1 message is a replicated
		// JetStream write, and 1,000 terminals each second would be the whole test.
		Telemetry: 30 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Commands: func(id string) map[string]mgmt.Command {
			c := new(atomic.Int32)
			executed.Store(id, c)
			return map[string]mgmt.Command{"count": mgmt.CommandFunc(func(context.Context, json.RawMessage) (any, error) {
				total.Add(1)
				return map[string]int32{"runs": c.Add(1)}, nil
			})}
		},
	})
	start := time.Now()
	startSims(t, sims)
	// The fleet client is on the nodes that stay.
	c, err := fleet.Dial(context.Background(), fleet.Options{Broker: cl.Nodes[2].MQTTURL + "," + cl.Nodes[1].MQTTURL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list := func() []fleet.Terminal {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ts, err := c.List(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	online := func(ts []fleet.Terminal, ok func(fleet.Terminal) bool) int {
		k := 0
		for _, tm := range ts {
			if tm.Presence == fleet.Online && (ok == nil || ok(tm)) {
				k++
			}
		}
		return k
	}
	var ts []fleet.Terminal
	for deadline := time.Now().Add(3 * time.Minute); ; {
		if ts = list(); len(ts) == n && online(ts, nil) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d terminals online", online(ts, nil), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d terminals online on the 3-node cluster after %v", n, time.Since(start).Round(time.Millisecond))
	epochBefore := map[string]uint64{}
	for _, tm := range ts {
		epochBefore[tm.ID] = tm.State.Epoch
	}
	ids := make([]string, n)
	for i, sm := range sims {
		ids[i] = sm.id
	}

	// The node to kill: of nodes 1 and 2 (the fleet client is on node 3), the one with
	// more clients (a terminal whose first broker refused it at start, before JetStream
	// was ready there, went on to the next).
	victim, most := 0, -1
	for i := range 2 {
		k, err := cl.Clients(i)
		if err != nil {
			t.Fatal(err)
		}
		if k > most {
			victim, most = i, k
		}
	}
	// A rollout and a burst of commands, and the victim killed in the middle of both.
	pushed := make(chan []fleet.PushResult, 1)
	ran := make(chan []fleet.CommandResult, 1)
	errs := make(chan error, 2)
	go func() {
		r, err := c.PushConfig(context.Background(), ids, []byte("log:\n  level: debug\n"), fleet.PushOptions{Timeout: 3 * time.Minute})
		if err != nil {
			errs <- err
		}
		pushed <- r
	}()
	go func() {
		r, err := c.Command(context.Background(), ids, "count", nil, 2*time.Minute)
		if err != nil {
			errs <- err
		}
		ran <- r
	}()
	for deadline := time.Now().Add(time.Minute); total.Load() < int64(n/10); {
		if time.Now().After(deadline) {
			t.Fatalf("only %d commands ran within a minute", total.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	killed := time.Now()
	cl.Kill(victim)
	t.Logf("killed node %s (SIGKILL, %d clients) after %d of %d commands ran", cl.Nodes[victim].Name, most, total.Load(), n)

	// Every terminal of the killed node reconnects elsewhere with a new epoch.
	// Every terminal that was on the killed node reconnects elsewhere with a new epoch within 30 s
	// (as the terminals see it). Which ones were on it shows after the kill: a
	// terminal whose first broker was busy at start may have connected to the next, so
	// the affected ones are those seen offline or with a new epoch. The kill breaks
	// their TCP connections at once, so a second of watching sees them all.
	affected := map[string]bool{}
	var back time.Duration
	for deadline := killed.Add(30 * time.Second); ; {
		var stuck []string
		for _, sm := range sims {
			moved := sm.s.Epoch() > epochBefore[sm.id]
			if !sm.s.Online() || moved {
				affected[sm.id] = true
			}
			if !sm.s.Online() || (affected[sm.id] && !moved) {
				stuck = append(stuck, sm.id)
			}
		}
		if len(stuck) == 0 && len(affected) > 0 && time.Since(killed) > time.Second {
			back = time.Since(killed)
			break
		}
		if time.Now().After(deadline) {
			for _, l := range strings.Split(logs.String(), "\n") {
				for _, id := range stuck {
					if strings.Contains(l, "terminal="+id) {
						t.Log(l)
					}
				}
			}
			t.Fatalf("30s after the kill, not online again with a new session: %v (%d terminals were on the killed node)", stuck, len(affected))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d terminals were on the killed node", len(affected))
	t.Logf("every terminal online again %v after the kill", back.Round(time.Millisecond))
	// ... and the fleet view shows them with their new births.
	viewLag := false
	for deadline := time.Now().Add(60 * time.Second); ; {
		ts = list()
		var old []string
		for _, tm := range ts {
			if tm.Presence != fleet.Online {
				old = append(old, tm.ID+" "+tm.Presence)
			} else if sm := simByID(sims, tm.ID); sm != nil && tm.State.Epoch < sm.s.Epoch() {
				old = append(old, fmt.Sprintf("%s epoch %d, terminal at %d", tm.ID, tm.State.Epoch, sm.s.Epoch()))
			}
		}
		if len(ts) == n && len(old) == 0 {
			break
		}
		if time.Now().After(deadline) {
			// Seen on the CI machine with nats-server 2.9.10: the terminals are back
			// (their sessions say so, commands reach them), but the node the fleet
			// client is on keeps serving their old retained births. Recorded, not
			// asserted: it is the broker's, documented in docs/mgmt-protocol.md §11.1.
			t.Logf("FINDING: 60s after the terminals reconnected the fleet view still shows %d old retained births: %v", len(old), old)
			viewLag = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !viewLag {
		t.Logf("fleet view right %v after the kill", time.Since(killed).Round(time.Millisecond))
	}

	res := <-pushed
	cmds := <-ran
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	by := map[string]int{}
	for _, r := range res {
		by[r.Status]++
		if r.Status != string(rollout.StatusCommitted) && r.Status != string(rollout.StatusRolledBack) {
			t.Errorf("%s: rollout ended %s (%s)", r.ID, r.Status, r.Reason)
		}
	}
	t.Logf("rollout: %v", by)
	results := map[string]int{}
	for _, r := range cmds {
		if r.Result != nil && r.Status == mgmt.ResultOK {
			results[r.ID]++
		}
	}
	// Never twice, never a result without a run. A command that did not arrive at all
	// (seen now and then: the QoS 1 message queued for a persistent session on the node
	// that died) is recorded as a finding with where its terminal was, not asserted.
	var lost []string
	for _, id := range ids {
		v, _ := executed.Load(id)
		runs := v.(*atomic.Int32).Load()
		switch {
		case runs > 1 || results[id] > 1 || results[id] > int(runs):
			t.Errorf("%s: the command ran %d times, %d results", id, runs, results[id])
		case runs == 0 || results[id] == 0:
			lost = append(lost, fmt.Sprintf("%s (ran %d, results %d, on the killed node %v)", id, runs, results[id], affected[id]))
		}
	}
	if t.Failed() {
		return
	}
	if len(lost) > 0 {
		t.Logf("FINDING: %d commands or their results were lost with the node: %v", len(lost), lost)
	}
	t.Logf("no command ran twice; %d of %d ran once with one result; the fleet lists %d terminals online",
		len(ids)-len(lost), len(ids), online(list(), nil))
}

func simByID(sims []*sim, id string) *sim {
	for _, sm := range sims {
		if sm.id == id {
			return sm
		}
	}
	return nil
}

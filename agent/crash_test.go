package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/payment"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/records"
)

// The crash tests run the agent in a child process (this test binary again), post
// business to its local API, and kill it with SIGKILL at random moments, many times
// over (SSCAGENT_CRASH_ROUNDS, default 20). The sandbox platform lives in the test
// process, so it sees every request of every child. A last child drains what is left;
// then the sandbox's ledger is checked against every answer the children gave.

const (
	childRole   = "SSCAGENT_AGENT_CHILD"  // run | drain
	childConfig = "SSCAGENT_AGENT_CONFIG" // the configuration file
)

// runChild is a child's whole life: the agent from the configuration file, "READY
// addr" once the local API serves; role drain waits until nothing is owed any more
// (queue empty, every order final and recorded), stops cleanly and says "DRAINED".
func runChild(role string) int {
	path := os.Getenv(childConfig)
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		fmt.Printf("ERROR config: %v\n", err)
		return 1
	}
	a, err := agent.New(cfg, agent.Options{ConfigPath: path, Logger: testLogger(nil)})
	if err != nil {
		fmt.Printf("ERROR new: %v\n", err)
		return 1
	}
	r := agent.Start(a)
	for a.LocalAPIAddr() == "" {
		select {
		case <-r.Done():
			fmt.Printf("ERROR run: %v\n", r.Err())
			return 1
		case <-time.After(5 * time.Millisecond):
		}
	}
	fmt.Printf("READY %s\n", a.LocalAPIAddr())
	if role != "drain" {
		<-r.Done() // until killed
		return 0
	}
	base := "http://" + a.LocalAPIAddr()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if drained(base) {
			if err := r.Stop(); err != nil {
				fmt.Printf("ERROR stop: %v\n", err)
				return 1
			}
			fmt.Println("DRAINED")
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("GET", base+"/v1/queue", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(os.Stderr, "queue at the drain deadline: %s\n", b)
	}
	fmt.Println("ERROR not drained within 60s")
	return 1
}

// drained asks the agent's local API whether anything is still owed.
func drained(base string) bool {
	req, _ := http.NewRequest("GET", base+"/v1/queue", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var q agent.QueueStatus
	if json.NewDecoder(resp.Body).Decode(&q) != nil {
		return false
	}
	for _, l := range q.Queue.Lanes {
		if l.Depth > 0 {
			return false
		}
	}
	return q.Payments.Open == 0 && q.Payments.Unrecorded == 0 && q.Backflow.InFlight == 0
}

// child is a running child agent.
type child struct {
	cmd   *exec.Cmd
	addr  string
	lines chan string
}

// startChild starts a child agent in role with the configuration at path and waits
// until its local API serves.
func startChild(t *testing.T, role, path string) *child {
	t.Helper()
	cmd, _, out := labtest.SpawnChild(t, false, childRole+"="+role, childConfig+"="+path)
	c := &child{cmd: cmd, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	select {
	case l, ok := <-c.lines:
		if !ok || !strings.HasPrefix(l, "READY ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child did not get ready: %q", l)
		}
		c.addr = "http://" + strings.TrimPrefix(l, "READY ")
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child not ready within 20s")
	}
	return c
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	for range c.lines {
	}
}

// wait waits for the child to end by itself and fails on an ERROR line.
func (c *child) wait(t *testing.T, want string) {
	t.Helper()
	var got []string
	for l := range c.lines {
		got = append(got, l)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v; output %q", err, got)
	}
	if len(got) == 0 || got[len(got)-1] != want {
		t.Fatalf("child ended with %q, want %q", got, want)
	}
}

// tryPost is one local API request that may be cut by a kill: it reports the status
// (0 without an answer) and the decoded body.
func tryPost(base, path string, body any, hdr ...string) (int, map[string]any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return 0, nil
	}
	return resp.StatusCode, out
}

// crashRig is the sandbox and configuration shared by every child of a crash test.
func crashRig(t *testing.T, sbo platformsim.Options, scenes string) (*platformsim.Sandbox, string, string) {
	dir := t.TempDir()
	sb := startSandbox(t, dir, sbo)
	path := writeConfig(t, dir, sb, rigOptions{Scenes: scenes})
	return sb, path, dir
}

// soak runs rounds of children killed at random while work posts business; work
// returns when ctx ends.
func soak(t *testing.T, path string, rounds int, work func(ctx context.Context, base string)) {
	t.Helper()
	start := time.Now()
	for i := range rounds {
		c := startChild(t, "run", path)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { work(ctx, c.addr) })
		time.Sleep(time.Duration(20+rand.IntN(250)) * time.Millisecond)
		c.kill()
		cancel()
		wg.Wait()
		if testing.Verbose() {
			t.Logf("round %d killed", i+1)
		}
	}
	soaked := time.Since(start)
	startChild(t, "drain", path).wait(t, "DRAINED")
	t.Logf("%d rounds in %s, drained in %s", rounds, soaked.Round(time.Millisecond), (time.Since(start) - soaked).Round(time.Millisecond))
}

// TestCrashRecords: records posted to POST /v1/records while children are killed and
// the backlog drains (with answers the platform sends and the agent never hears). The
// application does what the local API asks: a POST it got no answer to is sent again,
// with the same Idempotency-Key, to the next agent, until it gets its 202. Every record
// that got a 202 reaches the platform with its content, once, under one id, also when
// the agent stored it and died before answering; the platform holds no record nobody
// asked for; an id sent twice is one the platform de-duplicated.
func TestCrashRecords(t *testing.T) {
	sb, path, _ := crashRig(t, platformsim.Options{Faults: []platformsim.Fault{
		{Op: "backflow", Kind: platformsim.FaultLatency, Delay: platformsim.Duration(5 * time.Millisecond), Rate: 0.5},
		{Op: "backflow", Kind: platformsim.FaultDropAfter, Rate: 0.15},
	}}, "  - name: kiosk\n    kind: kiosk\n    readers: [\"*\"]\n")
	var mu sync.Mutex
	acked := map[string]string{} // businessSerialNo -> record id answered 202
	sent := map[string]bool{}    // every businessSerialNo posted, answered or not
	var unanswered []string      // posted, no answer yet: sent again first
	n, retries := 0, 0
	soak(t, path, labtest.CrashRounds(20), func(ctx context.Context, base string) {
		for ctx.Err() == nil {
			mu.Lock()
			var serial string
			if len(unanswered) > 0 {
				serial, unanswered = unanswered[0], unanswered[1:]
				retries++
			} else {
				n++
				serial = fmt.Sprintf("BS-%06d", n)
				sent[serial] = true
			}
			mu.Unlock()
			rec := map[string]any{"accessNo": "350100000001", "businessSerialNo": serial, "credentialType": "01",
				"regionCode": "350100", "scene": "02", "institutionName": "示例", "authTime": "2026-01-05 10:00:00",
				"businessTime": "2026-01-05 10:00:01", "socialSecurityNo": zhangsan, "name": "张三"}
			code, ans := tryPost(base, "/v1/records", map[string]any{"type": "credential", "record": rec}, "Idempotency-Key", "rec-"+serial)
			mu.Lock()
			if code == http.StatusAccepted {
				acked[serial] = ans["id"].(string)
			} else {
				unanswered = append(unanswered, serial)
			}
			mu.Unlock()
			if code == 0 {
				return // the child was killed
			}
		}
	})
	ledger := sb.Ledger().Records
	bySerial := map[string][]string{}
	dups := 0
	for id, lr := range ledger {
		var m map[string]string
		if err := json.Unmarshal(lr.Record, &m); err != nil {
			t.Fatal(err)
		}
		bySerial[m["businessSerialNo"]] = append(bySerial[m["businessSerialNo"]], id)
		if lr.Conflicts > 0 {
			t.Errorf("record id %s was reused for other content", id)
		}
		dups += lr.Duplicates
	}
	for serial, id := range acked {
		ids := bySerial[serial]
		if len(ids) != 1 || ids[0] != id {
			t.Errorf("record %s answered 202 as %s; the platform holds %v", serial, id, ids)
		}
	}
	for serial, ids := range bySerial {
		if !sent[serial] || len(ids) != 1 {
			t.Errorf("the platform holds %s under %v", serial, ids)
		}
	}
	t.Logf("%d records posted (%d sent again after no answer), %d answered 202, %d stored, %d duplicate sends de-duplicated",
		n, retries, len(acked), len(ledger), dups)
	if len(acked) == 0 {
		t.Fatal("no record was acknowledged: the test tested nothing")
	}
}

// TestCrashPayments: payments with fresh e-card codes while children are killed, with
// platform latency, lost answers and holders confirming on their phones. No order is
// charged twice, every order ends SUCCESS, FAILED, REVERSED or NEEDS_MANUAL, the
// platform's ledger and the holder's balance agree with the agent, and every paid
// order has exactly one C.4 record on the platform.
func TestCrashPayments(t *testing.T) {
	sb, path, dir := crashRig(t, platformsim.Options{PasswordAbove: "3.00", UserPaying: 200 * time.Millisecond,
		Faults: []platformsim.Fault{
			{Op: "*", Kind: platformsim.FaultLatency, Delay: platformsim.Duration(15 * time.Millisecond), Rate: 0.5},
			{Op: "micropay", Kind: platformsim.FaultDropAfter, Rate: 0.2},
			{Op: "orderQuery", Kind: platformsim.FaultDropAfter, Rate: 0.1},
		}}, "  - name: pos\n    kind: payment\n")
	var mu sync.Mutex
	acked := map[string]bool{}
	statuses := map[int]int{} // HTTP status (0: no answer) -> count
	n := 0
	soak(t, path, labtest.CrashRounds(20), func(ctx context.Context, base string) {
		for ctx.Err() == nil {
			code, _, err := sb.IssueQR(zhangsan)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			n++
			key := fmt.Sprintf("pay-%d", n)
			mu.Unlock()
			st, ans := tryPost(base, "/v1/payments", map[string]any{"amount": 1 + rand.IntN(500), "subject": "crash",
				"scene": "pos", "code": code}, "Idempotency-Key", key)
			mu.Lock()
			statuses[st]++
			mu.Unlock()
			if st == http.StatusAccepted {
				mu.Lock()
				acked[ans["id"].(string)] = true
				mu.Unlock()
			}
			if st == 0 {
				return // the child was killed
			}
		}
	})
	m, err := payment.Open(filepath.Join(dir, "state", payment.FileName), payment.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	orders, err := m.List()
	if err != nil {
		t.Fatal(err)
	}
	ledger := sb.Ledger()
	c4 := map[string]int{}
	for _, lr := range ledger.Records {
		var p records.Payment
		if err := json.Unmarshal(lr.Record, &p); err == nil && lr.Kind == "payment" {
			c4[p.BusinessSerialNo]++
		}
	}
	states := map[payment.State]int{}
	var paid int64
	known := map[string]bool{}
	for _, o := range orders {
		known[o.No] = true
		states[o.State]++
		lp, onPlatform := ledger.Payments[platformsim.DefaultChannel+"/"+o.No]
		switch o.State {
		case payment.Success:
			paid += o.Amount
			if lp.State != "SUCCESS" || lp.Amount != records.Amount(o.Amount).String() {
				t.Errorf("order %s SUCCESS here, %+v on the platform", o.No, lp)
			}
			if c4[o.No] != 1 {
				t.Errorf("paid order %s has %d C.4 records on the platform", o.No, c4[o.No])
			}
		case payment.Reversed, payment.Failed:
			if onPlatform && lp.State == "SUCCESS" {
				t.Errorf("order %s %s here, charged on the platform: %+v", o.No, o.State, lp)
			}
			if c4[o.No] != 0 {
				t.Errorf("unpaid order %s has a C.4 record", o.No)
			}
		case payment.NeedsManual:
			t.Logf("order %s needs a person: %s (platform %s)", o.No, o.Reason, lp.State)
		default:
			t.Errorf("order %s left open: %s", o.No, o.State)
		}
		if !o.Recorded {
			t.Errorf("final order %s not recorded", o.No)
		}
	}
	for key, lp := range ledger.Payments {
		no := strings.TrimPrefix(key, platformsim.DefaultChannel+"/")
		if !known[no] {
			t.Errorf("the platform has order %s (%s) the agent does not know", no, lp.State)
		}
		if strings.Count(fmt.Sprint(lp.History), "SUCCESS") > 1 {
			t.Errorf("order %s paid twice: %v", no, lp.History)
		}
	}
	for no := range acked {
		if !known[no] {
			t.Errorf("order %s answered 202 is not in the payment file", no)
		}
	}
	if want := records.Amount(500000 - paid).String(); sb.Balance(zhangsan) != want {
		t.Errorf("balance %s, want %s (5000.00 less %s paid)", sb.Balance(zhangsan), want, records.Amount(paid))
	}
	t.Logf("%d payments posted, answers by status %v, orders by state %v", n, statuses, states)
	if states[payment.Success] == 0 {
		t.Fatal("no payment succeeded: the test tested nothing")
	}
}

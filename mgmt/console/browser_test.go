//go:build linux

package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/console"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
)

// Shape of the simulated fleet. Under the race detector (make test) a process may not
// hold more than 8128 goroutines, about 500 sessions: there, live sessions are
// liveTerminals and the rest of the 1000 are recorded terminals (a retained birth and
// telemetry published for them, as a terminal that is switched off but not yet stale
// leaves them).
const (
	fleetSize     = 1000
	liveTerminals = 30
	keepAlive     = 5 * time.Second
	clearID       = "350102199003077898" // must never reach the page
	maskedID      = "**************7898"
)

// TestBrowserConsole drives the console in headless Chromium: log in, find a terminal
// among 1000, look at its page, push a configuration to a selection and watch it
// commit, run diagnostics and read the masked result, and see a terminal whose link
// dies go offline within its keepalive.
func TestBrowserConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against mosquitto and Chromium")
	}
	chrome := labtest.Chromium(t)
	b := labtest.StartMosquitto(t, labtest.MosquittoOptions{})
	platform := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(platform.Close)

	// The terminal whose link is cut goes through a proxy.
	proxy := newProxy(t, strings.TrimPrefix(b.URL, "tcp://"))
	buses := map[string]*event.Bus{}
	for i := range liveTerminals {
		id := fmt.Sprintf("SIM-%05d", i)
		broker := b.URL
		if i == liveTerminals-1 {
			broker = "tcp://" + proxy.addr
		}
		buses[id] = startTerminal(t, id, broker, platform.URL)
	}
	publishRecorded(t, b.URL, liveTerminals, fleetSize)

	// The console, exactly as "sscagent fleet serve" builds it.
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "alice.token")
	const token = "0123456789abcdef-console-test"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mgr, err := console.LoadManager(config.SecretFile(tokenFile), "")
	if err != nil {
		t.Fatal(err)
	}
	auditFile := filepath.Join(dir, "audit.jsonl")
	audit, err := console.OpenAudit(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	fc, err := fleet.Dial(context.Background(), fleet.Options{Broker: b.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	srv, err := console.New(console.Options{Fleet: fc, Managers: []console.Manager{mgr}, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		served <- srv.Serve(ctx, console.ServeOptions{Listen: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-served:
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first action starts the browser, which lives as long as that action's context:
	// only later actions get a time limit.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chrome, err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// until waits (up to d) for a JavaScript condition in the page.
	until := func(what, expr string, d time.Duration) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(d))); err != nil {
			t.Fatalf("waiting for %s (%s): %v\npage: %.2000s", what, expr, err, text("body"))
		}
	}
	const wait = 30 * time.Second

	// Log in: the table lists the whole fleet.
	t0 := time.Now()
	do("open the console", chromedp.Navigate(base+"/"))
	do("see the login form", chromedp.WaitVisible(chromedp.ID("token")))
	do("log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.CSS(`#login-form button`)))
	do("see the table", chromedp.WaitVisible(chromedp.ID("terminals")))
	until("the whole fleet online", fmt.Sprintf(`document.querySelector('#summary').textContent.startsWith('%d of %d terminals · %d online')`, fleetSize, fleetSize, fleetSize), wait)
	t.Logf("logged in, %d terminals listed and online after %v", fleetSize, time.Since(t0).Round(time.Millisecond))

	// Find one terminal among them and open its page.
	do("search", chromedp.SendKeys(chromedp.ID("q"), "SIM-00017"))
	until("one row", `document.querySelectorAll('#rows tr').length === 1 && document.querySelector('#rows tr').dataset.id === 'SIM-00017'`, wait)
	do("open it", chromedp.Click(chromedp.CSS(`#rows a[href="#/t/SIM-00017"]`)))
	until("its birth and telemetry chart", `document.querySelector('#terminal') && document.querySelector('#terminal').textContent.includes('Test Terminals Co.') && document.querySelectorAll('svg.chart polyline').length === 2`, wait)

	// Push a configuration to a selection: SIM-00000 to SIM-00009, in two batches.
	do("rollout form", chromedp.Navigate(base+"/#/rollouts"), chromedp.WaitVisible(chromedp.ID("rollout-form")),
		chromedp.SendKeys(chromedp.ID("targets"), "SIM-0000*"), chromedp.SetValue(chromedp.ID("doc"), "log:\n  level: debug\n"),
		chromedp.SetValue(chromedp.ID("batch"), "5"), chromedp.Click(chromedp.CSS(`#rollout-form button[type=submit]`)))
	until("the rollout committed everywhere", `document.querySelector('#rollout-state') && document.querySelector('#rollout-state').textContent === 'done' && document.querySelector('#rollout-counts').textContent === '10 committed'`, wait)
	do("table", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(chromedp.ID("terminals")), chromedp.Clear(chromedp.ID("q")), chromedp.SendKeys(chromedp.ID("q"), "SIM-0000*"))
	until("the table showing the committed version", `[...document.querySelectorAll('#rows tr')].filter(r => r.children[5].textContent === 'v1').length === 10`, wait)

	// Diagnostics on a terminal that saw a card: the result is masked.
	buses["SIM-00003"].Publish(event.Event{Kind: "card.read", OK: true, Data: map[string]any{"note": "holder " + clearID}})
	do("terminal page", chromedp.Navigate(base+"/#/t/SIM-00003"), chromedp.WaitVisible(chromedp.CSS(`button[data-cmd="diagnostics"]`)))
	until("the event", `document.querySelector('#events') && document.querySelector('#events').textContent.includes('card.read')`, wait)
	do("diagnostics", chromedp.Click(chromedp.CSS(`button[data-cmd="diagnostics"]`)))
	until("the diagnostics result", `[...document.querySelectorAll('#commands .command')].some(c => c.textContent.startsWith('diagnostics ok') && c.querySelector('pre.result'))`, wait)
	if page := text("body"); !strings.Contains(page, maskedID) || strings.Contains(page, clearID) {
		t.Fatalf("diagnostics not masked on the page (masked form present: %v)", strings.Contains(page, maskedID))
	}
	if res := text("#commands pre.result"); !strings.Contains(res, `"epoch"`) || !strings.Contains(res, maskedID) {
		t.Fatalf("diagnostics result: %.500s", res)
	}

	// A terminal's link dies: the page shows it offline within its keepalive.
	dead := fmt.Sprintf("SIM-%05d", liveTerminals-1)
	do("table", chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(chromedp.ID("terminals")), chromedp.Clear(chromedp.ID("q")), chromedp.SendKeys(chromedp.ID("q"), dead))
	until("it online", `document.querySelector('#rows tr .presence') && document.querySelector('#rows tr .presence').textContent === 'online'`, wait)
	cut := time.Now()
	proxy.cut()
	until("it offline within 1.5 × its keepalive", `document.querySelector('#rows tr .presence').textContent.startsWith('offline')`, keepAlive*3/2)
	t.Logf("%s shown %q %v after its link was cut (keepalive %v)", dead, text("#rows tr .presence"), time.Since(cut).Round(time.Millisecond), keepAlive)

	// Everything that changed something is in the audit log under the manager's name.
	b2, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, l := range strings.Split(strings.TrimSpace(string(b2)), "\n") {
		var r console.AuditRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if r.Manager != "alice" {
			t.Fatalf("audit line without the manager: %s", l)
		}
		acts = append(acts, r.Action+":"+r.Result)
	}
	slices.Sort(acts) // the rollout's end is written by its own goroutine
	if want := "command:sent login:ok rollout.end:done rollout.start:started"; strings.Join(acts, " ") != want {
		t.Fatalf("audit %v, want %s", acts, want)
	}
}

// startTerminal runs one real terminal session (as mgmt/fleet's scale test does) and
// returns its event bus.
func startTerminal(t *testing.T, id, broker, platformURL string) *event.Bus {
	t.Helper()
	bus := event.NewBus(16)
	s := mgmttest.NewSession(t, t.TempDir(), id, platformURL, mgmt.Options{Events: bus,
		Source: mgmt.SourceFunc(func(context.Context) mgmt.Devices {
			return mgmt.Devices{Readers: []mgmt.Reader{{Name: "Virtual PCD 00 00", Role: "holder", Present: true}},
				Queue: &mgmt.Queue{Depth: 2}, Platform: &mgmt.Platform{Up: true}}
		}),
		Config: mgmt.Config{Brokers: []string{broker}, TelemetryInterval: config.Duration(time.Second),
			KeepAlive: config.Duration(keepAlive), CommandTimeout: config.Duration(10 * time.Second),
			Reconnect: mgmt.Reconnect{FirstDelayMax: config.Duration(100 * time.Millisecond), Min: config.Duration(50 * time.Millisecond),
				Max: config.Duration(time.Second), StableAfter: config.Duration(time.Minute)}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return bus
}

// publishRecorded publishes a retained birth and telemetry for terminals from..to-1.
func publishRecorded(t testing.TB, broker string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mqttc.Dial(ctx, mqttc.Options{Brokers: []string{broker}, ClientID: "recorder", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(time.Second)
	now := time.Now().UTC()
	var pending []*mqttc.Pending
	for i := from; i < to; i++ {
		id := fmt.Sprintf("SIM-%05d", i)
		tp := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: id}
		st, _ := json.Marshal(mgmt.State{V: 1, Status: mgmt.StatusOnline, Epoch: 1, Boot: "recorded", Time: now, StartedAt: &now,
			Terminal: &mgmt.Registration{ID: id, Manufacturer: "Test Terminals Co.", Model: "T-1", Site: fmt.Sprintf("site %d", i%20)},
			Software: &mgmt.Software{Version: "v1.2.0"}, Config: &mgmt.ConfigState{}})
		tm, _ := json.Marshal(mgmt.Telemetry{V: 1, Epoch: 1, Seq: 1, Time: now, Health: mgmt.Health{Status: mgmt.HealthOK},
			Devices: mgmt.Devices{Queue: &mgmt.Queue{Depth: i % 7}}})
		pending = append(pending, c.PublishAsync(mqttc.Message{Topic: tp.State(), Payload: st, QoS: 1, Retained: true}),
			c.PublishAsync(mqttc.Message{Topic: tp.Telemetry(), Payload: tm, QoS: 1, Retained: true}))
	}
	for _, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// proxy forwards TCP to the broker until cut, when it closes every connection at once
// (with a reset), as a crashed terminal's kernel does.
type proxy struct {
	addr string
	l    net.Listener

	mu    sync.Mutex
	conns []*net.TCPConn
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), l: l}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c.(*net.TCPConn), up.(*net.TCPConn))
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.SetLinger(0)
		c.Close()
	}
	p.conns = nil
}

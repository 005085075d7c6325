package mgmt_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// testConfig is a mgmt section tuned for tests: fast telemetry and reconnects.
func testConfig(broker string) mgmt.Config {
	return mgmt.Config{
		Brokers:           []string{broker},
		KeepAlive:         config.Duration(5 * time.Second),
		TelemetryInterval: config.Duration(200 * time.Millisecond),
		CommandTimeout:    config.Duration(5 * time.Second),
		Reconnect: mgmt.Reconnect{
			FirstDelayMax: config.Duration(100 * time.Millisecond),
			Min:           config.Duration(20 * time.Millisecond),
			Max:           config.Duration(300 * time.Millisecond),
			StableAfter:   config.Duration(time.Minute),
		},
	}
}

// platformServer stands in for the one-card-pass platform: the health gate only needs
// it to answer HTTP.
func platformServer(t testing.TB) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(s.Close)
	return s
}

// term is one simulated terminal running a real Session in this process.
type term struct {
	t       testing.TB
	id      string
	root    string
	app     *mgmttest.Applier
	bus     *event.Bus
	level   *slog.LevelVar
	source  *fakeSource
	restart chan string
	sess    *mgmt.Session
	eng     *rollout.Engine

	cancel context.CancelFunc
	done   chan error
}

// fakeSource reports devices the test sets.
type fakeSource struct {
	mu sync.Mutex
	d  mgmt.Devices
}

func (f *fakeSource) Devices(ctx context.Context) mgmt.Devices {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.d
}

func (f *fakeSource) set(d mgmt.Devices) {
	f.mu.Lock()
	f.d = d
	f.mu.Unlock()
}

type termOpts struct {
	cfg       func(*mgmt.Config)
	opts      func(*mgmt.Options)
	root      string // reuse a terminal's directory (a restart)
	platform  string
	unhealthy bool // the health gate fails until SetHealth(nil)
}

func startTerm(t testing.TB, broker, id string, o termOpts) *term {
	t.Helper()
	root := o.root
	if root == "" {
		root = t.TempDir()
	}
	platform := o.platform
	if platform == "" {
		platform = platformServer(t).URL
	}
	app, err := mgmttest.NewApplier(root, mgmttest.BaseConfig(id, platform, filepath.Join(root, "state")))
	if err != nil {
		t.Fatal(err)
	}
	if o.unhealthy {
		app.SetHealth(mgmttest.ErrUnhealthy)
	}
	eng, err := rollout.Open(rollout.Options{Dir: filepath.Join(root, "state", "rollout"), Applier: app,
		Window: time.Second, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(broker)
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	tm := &term{t: t, id: id, root: root, app: app, bus: event.NewBus(64), level: new(slog.LevelVar),
		source: &fakeSource{}, restart: make(chan string, 1), eng: eng}
	base, _ := app.Running()
	opts := mgmt.Options{
		Config: cfg, Identity: base.Terminal, StateDir: base.Agent.StateDir,
		Scenes: []mgmt.Scene{{Name: "lobby", Kind: "identity"}},
		Source: tm.source, Events: tm.bus, Rollout: eng, Level: tm.level,
		Restart: func(reason string) { tm.restart <- reason },
		Commands: map[string]mgmt.Command{
			mgmt.CmdQueueStats: mgmt.CommandFunc(func(ctx context.Context, _ json.RawMessage) (any, error) {
				return map[string]int{"depth": 3}, nil
			}),
			"test.sleep": mgmt.CommandFunc(func(ctx context.Context, _ json.RawMessage) (any, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}),
		},
	}
	if o.opts != nil {
		o.opts(&opts)
	}
	s, err := mgmt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tm.sess = s
	tm.start()
	t.Cleanup(tm.stop)
	return tm
}

func (tm *term) start() {
	ctx, cancel := context.WithCancel(context.Background())
	tm.cancel, tm.done = cancel, make(chan error, 1)
	go func() { tm.done <- tm.sess.Run(ctx) }()
}

// stop ends Run and checks its result; calling it twice is harmless.
func (tm *term) stop() {
	if tm.cancel == nil {
		return
	}
	tm.cancel()
	select {
	case err := <-tm.done:
		if err != nil {
			tm.t.Errorf("%s: Run: %v", tm.id, err)
		}
	case <-time.After(15 * time.Second):
		tm.t.Errorf("%s: Run did not return", tm.id)
	}
	tm.cancel = nil
}

// watcher is a raw subscriber for assertions on the wire.
type watcher struct {
	t    testing.TB
	conn *mqttc.Conn
	mu   sync.Mutex
	msgs []mqttc.Message
	sig  chan struct{}
}

func watch(t testing.TB, broker string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, sig: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := mqttc.Dial(ctx, mqttc.Options{Brokers: []string{broker}, ClientID: "watch-" + t.Name(), CleanSession: true,
		OnMessage: func(m mqttc.Message) {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
			select {
			case w.sig <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(0) })
	fm := map[string]byte{}
	for _, f := range filters {
		fm[f] = 1
	}
	if err := conn.Subscribe(ctx, fm); err != nil {
		t.Fatal(err)
	}
	w.conn = conn
	return w
}

// wait returns the first message (after index from) satisfying ok, and its index.
func (w *watcher) wait(from int, what string, ok func(mqttc.Message) bool) (mqttc.Message, int) {
	w.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		w.mu.Lock()
		for i := from; i < len(w.msgs); i++ {
			if ok(w.msgs[i]) {
				m := w.msgs[i]
				w.mu.Unlock()
				return m, i
			}
		}
		w.mu.Unlock()
		select {
		case <-w.sig:
		case <-deadline:
			w.t.Fatalf("never saw %s", what)
		}
	}
}

func (w *watcher) all() []mqttc.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]mqttc.Message(nil), w.msgs...)
}

func (w *watcher) publish(m mqttc.Message) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.conn.Publish(ctx, m); err != nil {
		w.t.Fatal(err)
	}
}

// stateIs matches a state message with the given status (and epoch when not 0).
func stateIs(topics mgmt.Topics, status string, epoch uint64) func(mqttc.Message) bool {
	return func(m mqttc.Message) bool {
		if m.Topic != topics.State() {
			return false
		}
		s, err := mgmt.DecodeState(m.Payload)
		return err == nil && s.Status == status && (epoch == 0 || s.Epoch == epoch)
	}
}

func decodeState(t testing.TB, m mqttc.Message) mgmt.State {
	t.Helper()
	s, err := mgmt.DecodeState(m.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dialFleet(t testing.TB, broker string) *fleet.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := fleet.Dial(ctx, fleet.Options{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// child runs a terminal in another process (this test binary, TestHelperTerminal), so
// that it can be killed with SIGKILL like a crashing agent.
type child struct {
	t   testing.TB
	cmd *exec.Cmd
}

func startChild(t testing.TB, broker, id, root, platform string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTerminal$", "-test.v")
	cmd.Env = append(os.Environ(), "MGMT_HELPER=1", "MGMT_HELPER_BROKER="+broker, "MGMT_HELPER_ID="+id,
		"MGMT_HELPER_ROOT="+root, "MGMT_HELPER_PLATFORM="+platform)
	cmd.Env = append(cmd.Env, env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// The child ends when this pipe closes: when the test process dies too early to
	// clean up, its children go with it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	c := &child{t: t, cmd: cmd}
	t.Cleanup(func() {
		w.Close()
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child %s output:\n%s", id, out.String())
		}
	})
	return c
}

// kill ends the child with SIGKILL: no clean stop, the kernel closes its sockets.
func (c *child) kill() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// TestHelperTerminal is the child process's body; it does nothing in a normal run.
func TestHelperTerminal(t *testing.T) {
	if os.Getenv("MGMT_HELPER") != "1" {
		t.Skip("helper process for the kill tests")
	}
	startTerm(t, os.Getenv("MGMT_HELPER_BROKER"), os.Getenv("MGMT_HELPER_ID"), termOpts{
		root: os.Getenv("MGMT_HELPER_ROOT"), platform: os.Getenv("MGMT_HELPER_PLATFORM"),
		unhealthy: os.Getenv("MGMT_HELPER_HEALTH") == "fail"})
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed, or the parent is gone
	os.Exit(0)
}

// waitFor polls cond until it holds, failing the test after 15s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		<-tick.C
	}
}

// waitOnline waits until the fleet sees every id online.
func waitOnline(t testing.TB, f *fleet.Client, ids ...string) {
	t.Helper()
	waitFor(t, "online: "+strings.Join(ids, ","), func() bool {
		list, err := f.List(ctxFor(t, 10*time.Second), nil)
		if err != nil {
			return false
		}
		on := map[string]bool{}
		for _, l := range list {
			on[l.ID] = l.Presence == fleet.Online
		}
		for _, id := range ids {
			if !on[id] {
				return false
			}
		}
		return true
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func configSecret(p string) config.SecretFile { return config.SecretFile(p) }

// gate is a TCP proxy in front of the broker that the test can close: while closed it
// drops every new connection, so a terminal behind it stays offline until the test
// is ready to watch what it sends on reconnect.
type gate struct {
	URL    string
	ln     net.Listener
	target string
	open   atomic.Bool
	wg     sync.WaitGroup
}

func newGate(t testing.TB, brokerURL string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{URL: "tcp://" + ln.Addr().String(), ln: ln, target: strings.TrimPrefix(brokerURL, "tcp://")}
	g.open.Store(true)
	g.wg.Go(g.serve)
	t.Cleanup(func() { ln.Close(); g.wg.Wait() })
	return g
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.open.Load() {
			c.Close()
			continue
		}
		g.wg.Go(func() {
			defer c.Close()
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, c); done <- struct{}{} }()
			go func() { io.Copy(c, up); done <- struct{}{} }()
			<-done // either side closing ends both
		})
	}
}

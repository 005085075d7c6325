//go:build linux

package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/console"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
	"github.com/sscagent/sscagent/mgmt/mgmttest"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// TestIntegrationSyncRetained is the console's first read of a large fleet's retained
// messages (births, telemetry and configuration reports of 2,000 kiosks at their real
// sizes: 6,000 messages, 3 MB) from a real mosquitto over a link of 4 MB/s (a manager
// away from the broker). mosquitto 2.0 drops QoS 0 messages to a client once
// max_queued_messages (default 1000) packets wait for its socket; with the fleet's sync
// marker among them, the console and "fleet list" used to wait for ever ("console at
// 10k: the sync marker never returns": 10,000 terminals on loopback did it too).
//
//   - The default broker: the listing and the console either have every terminal or
//     report fleet.ErrDropped; they never hang and never show a partial fleet as
//     complete.
//   - The documented setting (max_queued_messages 0, docs/mgmt-protocol.md §11): the
//     listing and the console have all 2,000.
func TestIntegrationSyncRetained(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test against mosquitto")
	}
	const n = 2000
	for _, tc := range []struct {
		name     string
		extra    string
		complete bool // the documented setting: nothing may be dropped
	}{
		{"default broker", "", false},
		{"documented setting", "max_queued_messages 0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []string
			if tc.extra != "" {
				extra = []string{tc.extra}
			}
			mq := labtest.StartMosquitto(t, labtest.MosquittoOptions{Extra: extra})
			publishKiosks(t, mq.URL, n)
			link := newSlowLink(t, strings.TrimPrefix(mq.URL, "tcp://"), 4<<20)
			fc, err := fleet.Dial(context.Background(), fleet.Options{Broker: "tcp://" + link})
			if err != nil {
				t.Fatal(err)
			}
			defer fc.Close()

			// The deadline is a liveness bound (the old client waited until it), not a
			// measurement: a complete listing takes well under a second here.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ts, err := fc.List(ctx, nil)
			switch {
			case err == nil && len(ts) == n:
				t.Logf("fleet list: all %d", n)
			case err == nil:
				t.Fatalf("fleet list: %d of %d terminals and no error", len(ts), n)
			case errors.Is(err, fleet.ErrDropped) && !tc.complete:
				t.Logf("fleet list: %v", err)
			default:
				t.Fatalf("fleet list: %v", err)
			}

			// The console: its model is either complete once synced, or its log says why
			// it is not.
			var logged lockedBuffer
			mgr, audit := mgmttest.ConsoleParts(t, "0123456789abcdef-sync-test")
			srv, err := console.New(console.Options{Fleet: fc, Managers: []console.Manager{mgr}, Audit: audit,
				Log: slog.New(slog.NewTextHandler(&logged, nil))})
			if err != nil {
				t.Fatal(err)
			}
			rctx, rcancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(rctx) }()
			defer func() { rcancel(); <-done }()
			for {
				p := srv.Model().Table(console.Query{Size: 1})
				if p.Synced {
					if p.Total != n {
						t.Fatalf("console synced with %d of %d terminals", p.Total, n)
					}
					t.Logf("console: synced, %d terminals", p.Total)
					break
				}
				if s := logged.String(); strings.Contains(s, fleet.ErrDropped.Error()) {
					if tc.complete {
						t.Fatalf("console: %s", s)
					}
					t.Logf("console: reported the loss: %.200s", s)
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("console neither synced nor reported a loss; log:\n%s", logged.String())
				case <-srv.Model().Changed():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
}

// publishKiosks publishes the retained birth, telemetry, configuration report and
// desired configuration of n kiosks SIM-00000… at their real sizes (a kiosk's telemetry
// is about 1 KB: two readers, a PSAM, a scanner, queue, payments, platform; a pushed
// document 1.3 KB).
func publishKiosks(t *testing.T, broker string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mqttc.Dial(ctx, mqttc.Options{Brokers: []string{broker}, ClientID: "kiosks", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(time.Second)
	now := time.Now().UTC()
	var pending []*mqttc.Pending
	for i := range n {
		id := fmt.Sprintf("SIM-%05d", i)
		tp := mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: id}
		st, _ := json.Marshal(mgmt.State{V: 1, Status: mgmt.StatusOnline, Epoch: 3, Boot: "b-" + id, Time: now, StartedAt: &now,
			Terminal: &mgmt.Registration{ID: id, Manufacturer: "Test Terminals Co.", Model: "T-1", Site: fmt.Sprintf("测试网点 %d", i%20)},
			Software: &mgmt.Software{Version: "v1.2.0"}, Config: &mgmt.ConfigState{}})
		tm, _ := json.Marshal(mgmt.Telemetry{V: 1, Epoch: 3, Seq: 7, Time: now,
			Health: mgmt.Health{Status: mgmt.HealthDegraded, Problems: []string{"reader Virtual PCD 00 01: no card reader"}},
			Devices: mgmt.Devices{
				Readers: []mgmt.Reader{{Name: "Virtual PCD 00 00", Role: "holder", Present: true, Card: true},
					{Name: "Virtual PCD 00 01", Role: "psam", Present: true, Card: true, LastError: "SCardTransmit: card removed"}},
				PSAMs:    []mgmt.PSAM{{Reader: "Virtual PCD 00 01", Status: "ok", TerminalNo: "350100000001"}},
				Scanners: []mgmt.Scanner{{Name: "front", Connected: true, Scans: 1234, BadInput: 2, LastError: "frame too long (4096 bytes)"}},
				Queue:    &mgmt.Queue{Depth: i % 7}, Payments: &mgmt.Payments{}, Platform: &mgmt.Platform{Up: true}}})
		rp, _ := json.Marshal(mgmt.Reported{V: 1, Epoch: 3})
		ds, _ := json.Marshal(mgmt.Desired{V: 1, Version: 2, Config: kioskConfig, SHA256: rollout.Hash([]byte(kioskConfig)), IssuedAt: now, IssuedBy: "ops@manager"})
		pending = append(pending, c.PublishAsync(mqttc.Message{Topic: tp.State(), Payload: st, QoS: 1, Retained: true}),
			c.PublishAsync(mqttc.Message{Topic: tp.Telemetry(), Payload: tm, QoS: 1, Retained: true}),
			c.PublishAsync(mqttc.Message{Topic: tp.Reported(), Payload: rp, QoS: 1, Retained: true}),
			c.PublishAsync(mqttc.Message{Topic: tp.Desired(), Payload: ds, QoS: 1, Retained: true}))
	}
	for _, p := range pending {
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// newSlowLink forwards TCP connections to target, the way back (broker to client) at
// rate bytes per second, and returns its address. The upstream socket's receive buffer
// is fixed (64 KiB) so that the kernel does not absorb what the link holds back.
func newSlowLink(t *testing.T, target string, rate int) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
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
			_ = up.(*net.TCPConn).SetReadBuffer(64 << 10)
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); paced(c, up, rate); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// paced copies src to dst at most rate bytes per second, in 10 ms slices.
func paced(dst io.Writer, src io.Reader, rate int) {
	const slice = 10 * time.Millisecond
	tick := time.NewTicker(slice)
	defer tick.Stop()
	buf := make([]byte, rate/100)
	for range tick.C {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// kioskConfig is a pushed configuration document of a usual size (1.3 KB).
var kioskConfig = `log:
  level: info
scenes:
  - name: entrance-gate
    kind: identity
    reader: holder
    gate:
      kind: relay
      openMs: 1500
  - name: counter-payment
    kind: payment
    reader: holder
    scanner: front
` + strings.Repeat("# rollout note: staged push to the district's kiosks, second wave\n", 16)

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

//go:build linux

package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/console"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// BenchmarkBrowserTable measures the console's terminal table in headless Chromium over
// 10,000 terminals (docs/benchmarks.md) while telemetry arrives at the default rate of
// such a fleet (one sample per terminal per 30 s: 333 messages/s):
//
//   - load: open the console (logged in) until the first page of 50 rows is shown;
//
//   - sort: click a column header until the page in the new order is shown;
//
//   - filter: type a glob until the matching page is shown.
//
//     go test ./mgmt/console/ -run '^$' -bench BrowserTable -benchtime 20x
func BenchmarkBrowserTable(b *testing.B) {
	const n = 10000
	chrome := labtest.Chromium(b)
	mq := labtest.StartMosquitto(b, labtest.MosquittoOptions{})
	publishRecorded(b, mq.URL, 0, n)
	stop := telemetryLoad(b, mq.URL, n, 30*time.Second)
	defer stop()

	dir := b.TempDir()
	tokenFile := filepath.Join(dir, "bench.token")
	const token = "0123456789abcdef-console-bench"
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		b.Fatal(err)
	}
	mgr, _ := console.LoadManager(config.SecretFile(tokenFile), "")
	audit, err := console.OpenAudit(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer audit.Close()
	fc, err := fleet.Dial(context.Background(), fleet.Options{Broker: mq.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer fc.Close()
	srv, _ := console.New(console.Options{Fleet: fc, Managers: []console.Manager{mgr}, Audit: audit})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	go func() {
		_ = srv.Serve(ctx, console.ServeOptions{Listen: "127.0.0.1:0", Ready: func(a string) { ready <- a }})
	}()
	base := <-ready

	actx, acancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		if err := chromedp.Do(bctx, steps...); err != nil {
			b.Fatal(err)
		}
	}
	until := func(expr string) {
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			page, _ := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS("#view")))
			b.Fatalf("%s: %v\n%.600s", expr, err, page)
		}
	}
	full := fmt.Sprintf(`document.querySelector('#summary') && document.querySelector('#summary').textContent.startsWith('%d of %d terminals') && document.querySelectorAll('#rows tr').length === 50`, n, n)
	do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("token")), chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#login-form button")))
	until(full)

	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			do(chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/"), chromedp.WaitVisible(chromedp.ID("terminals")))
			until(full)
		}
	})
	b.Run("sort", func(b *testing.B) {
		desc := false
		for b.Loop() {
			desc = !desc
			first := "SIM-00000"
			if desc {
				first = fmt.Sprintf("SIM-%05d", n-1)
			}
			do(chromedp.Click(chromedp.CSS(`th[data-key="id"]`)))
			until(fmt.Sprintf(`document.querySelector('#rows tr') && document.querySelector('#rows tr').dataset.id === '%s'`, first))
		}
	})
	b.Run("filter", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			glob := fmt.Sprintf("SIM-0%d*", i%10)
			set := fmt.Sprintf(`(() => { const q = document.getElementById('q'); q.value = '%s'; q.dispatchEvent(new Event('input')); return true })()`, glob)
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](set)); err != nil {
				b.Fatal(err)
			}
			until(fmt.Sprintf(`document.querySelector('#summary').textContent.startsWith('1000 of %d') && document.querySelector('#rows tr').dataset.id.startsWith('SIM-0%d')`, n, i%10))
		}
	})
}

// telemetryLoad republishes the recorded terminals' telemetry, each once per interval,
// until stopped.
func telemetryLoad(b *testing.B, broker string, n int, interval time.Duration) (stop func()) {
	c, err := mqttc.Dial(context.Background(), mqttc.Options{Brokers: []string{broker}, ClientID: "telemetry-load", CleanSession: true})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		const tick = 30 * time.Millisecond
		per := max(1, int(float64(n)*tick.Seconds()/interval.Seconds()))
		t := time.NewTicker(tick)
		defer t.Stop()
		seq := uint64(1)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			seq++
			for range per {
				i := rand.IntN(n)
				tm, _ := json.Marshal(mgmt.Telemetry{V: 1, Epoch: 1, Seq: seq, Time: time.Now().UTC(), Health: mgmt.Health{Status: mgmt.HealthOK},
					Devices: mgmt.Devices{Queue: &mgmt.Queue{Depth: rand.IntN(9)}}})
				c.PublishAsync(mqttc.Message{Topic: mgmt.Topics{Prefix: mgmt.DefaultPrefix, Terminal: fmt.Sprintf("SIM-%05d", i)}.Telemetry(), Payload: tm, Retained: true})
			}
		}
	}()
	return func() { close(done); <-finished; c.Close(time.Second) }
}

//go:build cgo && linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sscagent/sscagent/agent"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/internal/event"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform/platformsim"
)

// The agent the library talks to in the tests: the whole agent (agent.New + Start, from
// a YAML file) with a reader scene on the holder slots of a private pcscd with vpcd, the
// sandbox PSAM of terminal 350100000001 in the PSAM slot, and the local API on a free
// port with a bearer token.

const testToken = "readerlib-token-0123456789abcdef"

type testAgent struct {
	t         testing.TB
	d         *labtest.PCSCD
	addr      string // the local API
	tokenFile string
	sub       *event.Subscription
}

func startAgent(t testing.TB) *testAgent {
	t.Helper()
	d := labtest.SharedPCSCD(t, "Holder", "PSAM")
	dir := t.TempDir()
	sb, err := platformsim.Start(context.Background(), filepath.Join(dir, "sandbox"),
		platformsim.StartOptions{Options: platformsim.Options{HSM: cardsim.HSM{}, Seed: 1}, TestKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ta := &testAgent{t: t, d: d, tokenFile: filepath.Join(dir, "localapi.token")}
	if err := os.WriteFile(ta.tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pc := sb.ClientConfig(platformsim.DefaultChannel, true)
	yaml := fmt.Sprintf(`version: 1
terminal:
  id: SSC-LIB-0001
  manufacturer: Test Terminals Co.
  model: L-1
  institution: 示例市人力资源和社会保障局
  creditCode: 91350100M000100Y43
  region: "350100"
  site: 测试网点
  deviceType: ic-card-reader
  cardModes: [card]
  test: true
agent:
  stateDir: %s
platform:
  baseURL: %s
  channelNo: "%s"
  applicationNo: "02"
  privateKey: %s
  platformPublicKey: %s
  sm4Key: %s
  caFile: %s
localapi:
  listen: 127.0.0.1:0
  tokenFile: %s
records:
  institutionAddress: 示例市示例路1号
  channel: 线下自助终端
scenes:
  - name: counter
    kind: reader
    readers: ["Holder*"]
cards:
  driver: pcsc
  readers:
    holder: ["Holder*"]
    psam: ["PSAM*"]
`, filepath.Join(dir, "state"), pc.BaseURL, pc.ChannelNo, pc.PrivateKey, pc.PlatformPublicKey, pc.SM4Key,
		pc.CAFile, ta.tokenFile)
	path := filepath.Join(dir, "sscagent.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(1024)
	ta.sub = bus.Subscribe(1024, true, 0)
	t.Cleanup(ta.sub.Close)
	a, err := agent.New(cfg, agent.Options{Events: bus, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	run := agent.Start(a)
	t.Cleanup(func() {
		if err := run.Stop(); err != nil {
			t.Errorf("agent stop: %v", err)
		}
	})
	ta.expect("agent.ready", "")
	// The local API binds as its part starts, which agent.ready does not wait for.
	deadline := time.Now().Add(10 * time.Second)
	for ta.addr = a.LocalAPIAddr(); ta.addr == ""; ta.addr = a.LocalAPIAddr() {
		if time.Now().After(deadline) {
			t.Fatal("local API not serving within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	p, err := cardsim.NewPSAM(cardsim.PSAMOptions{TerminalNo: "350100000001"})
	if err != nil {
		t.Fatal(err)
	}
	ps := cardsim.Insert(d.Addr("PSAM", 0), p, cardsim.ServeOptions{})
	t.Cleanup(func() { _ = ps.Remove(); <-ps.Done(); labtest.WaitEmpty(t, labtest.Reader("PSAM", 0)) })
	ta.expect("psam.ready", "")
	return ta
}

// expect waits (at most 15 s) for the next event of kind (from source, when not empty),
// skipping the others.
func (ta *testAgent) expect(kind event.Kind, source string) {
	ta.t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case e := <-ta.sub.C():
			if e.Kind == kind && (source == "" || e.Source == source) {
				return
			}
		case <-deadline.C:
			ta.t.Fatalf("no %s event within 15s", kind)
		}
	}
}

// put serves a card profile in holder slot 0 and waits until the agent saw it; the
// returned function pulls it out and waits until the agent saw that.
func (ta *testAgent) put(profile string) (pull func()) {
	ta.t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		ta.t.Fatal(err)
	}
	reader := labtest.Reader("Holder", 0)
	in := cardsim.Insert(ta.d.Addr("Holder", 0), c, cardsim.ServeOptions{})
	ta.expect("card.inserted", reader)
	return func() {
		ta.t.Helper()
		_ = in.Remove()
		<-in.Done()
		ta.expect("card.removed", reader)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopSharedPCSCD()
	os.Exit(code)
}

//go:build cgo && linux

package readers_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/pcsc"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/psam"
)

// The integration tests of this file run the manager on a real pcscd with the vpcd
// driver, private to this test binary, with the sandbox's virtual cards and PSAM
// connected over vpcd's TCP protocol: the same PC/SC stack a terminal uses.

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopSharedPCSCD()
	os.Exit(code)
}

var (
	holder0 = labtest.Reader("Holder", 0)
	holder1 = labtest.Reader("Holder", 1)
	psam0   = labtest.Reader("PSAM", 0)
)

type lab struct {
	*rig
	d *labtest.PCSCD
}

// newLab runs a manager on the shared pcscd (readers "Holder 00 0x" and "PSAM 00 0x").
func newLab(t testing.TB, o readers.Options) *lab {
	t.Helper()
	d := labtest.SharedPCSCD(t, "Holder", "PSAM")
	cfg := testConfig()
	cfg.Readers.Holder = []string{"Holder*"}
	cfg.Readers.PSAM = []string{"PSAM*"}
	o.Config = cfg
	o.Open = func() (drivers.System, error) { return pcsc.Open(pcsc.Options{}) }
	r := &rig{t: t}
	r.run(o, psam0)
	return &lab{rig: r, d: d}
}

// serve puts an ICC into a vpcd slot until the test ends; the returned func pulls it.
// At the end of the test it also waits until the manager saw the slot empty, so the
// next test (and its manager) starts with empty readers: pcscd notices a removal at its
// next 400 ms poll only.
func (l *lab) serve(entry string, slot int, icc cardsim.ICC) func() {
	l.t.Helper()
	in := cardsim.Insert(l.d.Addr(entry, slot), icc, cardsim.ServeOptions{})
	remove := func() { _ = in.Remove() }
	reader := labtest.Reader(entry, slot)
	l.t.Cleanup(func() {
		remove()
		l.ev.until(l.t, reader+" empty", func([]readers.Event) bool {
			for _, ri := range l.m.Readers() {
				if ri.Name == reader {
					return !ri.Present
				}
			}
			return true
		})
	})
	return remove
}

func (l *lab) card(reader string, slot int, profile string) *cardsim.Card {
	l.t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		l.t.Fatal(err)
	}
	n := l.ev.count(readers.CardInserted, labtest.Reader("Holder", slot))
	l.serve("Holder", slot, c)
	l.waitCount(readers.CardInserted, labtest.Reader("Holder", slot), n+1)
	return c
}

func (l *lab) psam(o cardsim.PSAMOptions) func() {
	l.t.Helper()
	p, err := cardsim.NewPSAM(o)
	if err != nil {
		l.t.Fatal(err)
	}
	n := l.ev.count(readers.PSAMReady, psam0)
	remove := l.serve("PSAM", 0, p)
	l.waitCount(readers.PSAMReady, psam0, n+1)
	return remove
}

func line(t testing.TB, res *card.Result) string {
	t.Helper()
	b, err := res.IReadCardBas(card.UTF8)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPCSCReads: a gen-2 3DES card and a gen-3 SM4 card read with the PSAM over pcscd.
func TestPCSCReads(t *testing.T) {
	l := newLab(t, readers.Options{TestTerminal: true})
	l.psam(cardsim.PSAMOptions{TerminalNo: "350100000007"})
	l.card("Holder", 0, "lisi")
	l.card("Holder", 1, "zhangsan")
	res, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|00544553545353350120000002|2.00|20180310|20280310|350100000007||"
	if got := line(t, res); got != want || !res.Authenticated || res.AuthBy != "psam" || res.APDUs != 6 {
		t.Fatalf("gen 2 over pcscd:\n got %s\nwant %s\n%+v", got, want, res)
	}
	res, err = l.m.Read(context.Background(), holder1, readers.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = "350100|350102199003077898|D10000017|350100D156000005300000015A3C9E11|张三|00544553545353350130000001|3.00|20230601|20330601|350100000007||"
	if got := line(t, res); got != want || !res.Authenticated || res.APDUs != 8 {
		t.Fatalf("gen 3 over pcscd:\n got %s\nwant %s\n%+v", got, want, res)
	}
}

// TestPCSCGen3ViaHSM: without a PSAM key for RKSSSE the read falls back to the HSM
// two-step; without any PSAM, the HSM alone.
func TestPCSCGen3ViaHSM(t *testing.T) {
	l := newLab(t, readers.Options{TestTerminal: true, HSM: cardsim.Authenticator{HSM: cardsim.HSM{}}})
	pull := l.psam(cardsim.PSAMOptions{NoRK: true})
	l.card("Holder", 0, "zhaoliu")
	res, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{})
	if err != nil || res.AuthBy != "hsm" || res.Basic.SSN.Clear() != "350203199512304560" || res.TerminalNo != "350100000001" {
		t.Fatalf("PSAM without RKSSSE: %+v %v", res, err)
	}
	pull()
	l.ev.wait(t, readers.PSAMRemoved, psam0)
	res, err = l.m.Read(context.Background(), holder0, readers.ReadOptions{})
	if err != nil || res.AuthBy != "hsm" || res.TerminalNo != "000000000000" {
		t.Fatalf("no PSAM: %+v %v", res, err)
	}
}

func TestPCSCWrongCardAndNoPSAM(t *testing.T) {
	l := newLab(t, readers.Options{TestTerminal: true})
	l.card("Holder", 0, "bankcard")
	l.card("Holder", 1, "lisi")
	if _, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{}); card.CodeOf(err) != card.CodeWrongCardType {
		t.Fatalf("bank card: %v", err)
	}
	_, err := l.m.Read(context.Background(), holder1, readers.ReadOptions{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.Message().Code != 202201 {
		t.Fatalf("no PSAM, no HSM: %v", err)
	}
}

// TestPCSCCardPulledMidRead: the card leaves between two commands of a read over
// pcscd: -2 and nothing returned; the slot works again for the next card.
func TestPCSCCardPulledMidRead(t *testing.T) {
	l := newLab(t, readers.Options{TestTerminal: true})
	l.psam(cardsim.PSAMOptions{})
	c := l.card("Holder", 0, "zhangsan")
	c.PullWhen(func(cmd apdu.Command) bool { return cmd.INS == 0x82 })
	res, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{})
	var ce *card.Error
	if res != nil || !errors.As(err, &ce) || ce.Code != card.CodeNoCard || ce.PromptCode() != card.PromptRemoved {
		t.Fatalf("pulled: %+v %v", res, err)
	}
	l.ev.wait(t, readers.CardRemoved, holder0)
	l.card("Holder", 0, "zhangsan")
	if res, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{}); err != nil || !res.Authenticated {
		t.Fatalf("next card in the same slot: %+v %v", res, err)
	}
}

// TestPCSCServiceRestart: pcscd restarts under the running manager; it reconnects,
// reopens the PSAM and reads again, without restarting anything else.
func TestPCSCServiceRestart(t *testing.T) {
	l := newLab(t, readers.Options{TestTerminal: true})
	l.psam(cardsim.PSAMOptions{})
	scene := l.m.Waiter(readers.Filter{})
	l.card("Holder", 0, "lisi")
	if in, err := scene.Next(context.Background()); err != nil || in.Reader != holder0 {
		t.Fatalf("first presentation: %+v %v", in, err)
	}
	if err := l.d.Restart(); err != nil {
		t.Fatal(err)
	}
	l.ev.wait(t, readers.ServiceDown, "")
	l.waitCount(readers.ServiceUp, "", 2)
	l.waitCount(readers.PSAMReady, psam0, 2)
	l.waitCount(readers.CardInserted, holder0, 2)
	res, err := l.m.Read(context.Background(), holder0, readers.ReadOptions{})
	if err != nil || !res.Authenticated {
		t.Fatalf("read after the restart: %+v %v", res, err)
	}
	if h := l.m.Health(); !h.Service || !h.PSAM.Usable {
		t.Fatalf("health after the restart %+v", h)
	}
	// The card stayed in the reader: the restart is not a second presentation.
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if in, err := scene.Next(short); err == nil {
		t.Fatalf("the card that stayed in its reader through the pcscd restart was handed out again: %+v", in)
	}
}

// TestPCSCGen3ViaSandboxPlatform: a gen-3 card on a terminal without a PSAM, read over
// pcscd, authenticated with the national HSM two-step through the sandbox platform
// over HTTPS (signed envelope, platform client, platformsim with the cards' HSM).
func TestPCSCGen3ViaSandboxPlatform(t *testing.T) {
	sb, err := platformsim.Start(context.Background(), t.TempDir(), platformsim.StartOptions{
		Options: platformsim.Options{HSM: cardsim.HSM{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	client, err := platform.New(sb.ClientConfig(platformsim.DefaultChannel, true), platform.Options{TerminalID: "SSC-TEST-0001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	const device = "SSCAGENT-TEST-DEVICE-00000000001"
	l := newLab(t, readers.Options{TestTerminal: true, HSM: psam.PlatformHSM{Client: client, DeviceNo: device}})
	l.card("Holder", 1, "zhangsan")
	res, err := l.m.Read(context.Background(), holder1, readers.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "350100|350102199003077898|D10000017|350100D156000005300000015A3C9E11|张三|00544553545353350130000001|3.00|20230601|20330601|000000000000||"
	if got := line(t, res); got != want || res.AuthBy != "hsm" || !res.Authenticated {
		t.Fatalf("gen 3 via the sandbox HSM:\n got %s\nwant %s\n%+v", got, want, res)
	}
	// A platform that cannot be reached: the read fails with the national code of the
	// missing PSAM and the platform prompt, after restarting from Step 1.
	_ = sb.Close()
	_, err = l.m.Read(context.Background(), holder1, readers.ReadOptions{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.PromptCode() != card.PromptHSMUnavailable {
		t.Fatalf("platform down: %v", err)
	}
}

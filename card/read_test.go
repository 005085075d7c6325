package card_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/psam"
)

// bench is a virtual terminal: a holder reader and a PSAM slot in process.
type bench struct {
	t    testing.TB
	hub  *simreader.Hub
	sys  drivers.System
	psam *psam.PSAM
}

func newBench(t testing.TB, po *cardsim.PSAMOptions) *bench {
	t.Helper()
	b := &bench{t: t, hub: simreader.New("Holder 00 00", "PSAM 00 00")}
	sys, err := b.hub.Open()
	if err != nil {
		t.Fatal(err)
	}
	b.sys = sys
	t.Cleanup(func() { sys.Close() })
	if po != nil {
		sim, err := cardsim.NewPSAM(*po)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.hub.Insert("PSAM 00 00", sim); err != nil {
			t.Fatal(err)
		}
		c, err := sys.Connect(context.Background(), "PSAM 00 00", true)
		if err != nil {
			t.Fatal(err)
		}
		if b.psam, err = psam.Open(context.Background(), c, c.ATR(), psam.Config{}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *bench) insert(name string) *cardsim.Card {
	b.t.Helper()
	p, err := cardsim.Shipped(name)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.insertProfile(p)
}

func (b *bench) insertProfile(p *cardsim.Profile) *cardsim.Card {
	b.t.Helper()
	c, err := cardsim.NewCard(p)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.hub.Insert("Holder 00 00", c); err != nil {
		b.t.Fatal(err)
	}
	return c
}

func (b *bench) read(o card.Options) (*card.Result, error) {
	b.t.Helper()
	c, err := b.sys.Connect(context.Background(), "Holder 00 00", false)
	if err != nil {
		b.t.Fatal(err)
	}
	defer c.Close(true)
	o.AllowTestCards = true
	if o.Authorities == nil && b.psam != nil {
		o.Authorities = []card.Authority{b.psam}
		o.TerminalNo = b.psam.Info().TerminalNo
	}
	return card.Read(context.Background(), c, c.ATR(), o)
}

func hsm() *psam.HSM { return &psam.HSM{Auth: cardsim.Authenticator{HSM: cardsim.HSM{}}} }

func TestReadGen2PSAM(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{TerminalNo: "350100000001"})
	b.insert("lisi")
	res, err := b.read(card.Options{DeviceNo: "DEV-01"})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := res.IReadCardBas(card.UTF8)
	want := "350100|350121198511160027|D20000029|350100D156000005200000027B2D0F42|李四|00544553545353350120000002|2.00|20180310|20280310|350100000001|DEV-01|"
	if string(line) != want {
		t.Fatalf("11 fields\n got %s\nwant %s", line, want)
	}
	if !res.Authenticated || res.AuthBy != "psam" || res.Basic.Generation() != 2 || res.Basic.Algorithm != card.AlgDES {
		t.Fatalf("result %+v", res)
	}
	// SELECT (+GET RESPONSE on this T=0 card), EF05 "P1 to last", INTERNAL AUTHENTICATE
	// (+GET RESPONSE), EF06 "P1 to last".
	if res.APDUs != 6 {
		t.Fatalf("%d card commands, want 6", res.APDUs)
	}
	b2 := res.Basic
	if b2.Sex != "2" || b2.Nation != "01" || b2.BirthDate.Clear() != "19851116" || b2.BirthPlace.Clear() != "350121" ||
		b2.CardType != "3" || b2.InitOrg != "915600000235010035010001" || !b2.CardNoChecked {
		t.Fatalf("basic %+v", b2)
	}
	gbk, _ := res.IReadCardBas(card.GBK)
	name, _ := simplifiedchinese.GBK.NewEncoder().String("李四")
	if !strings.Contains(string(gbk), "|"+name+"|") {
		t.Fatalf("GBK line %x", gbk)
	}
}

func TestReadGen3PSAM(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{})
	b.insert("zhangsan")
	res, err := b.read(card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := res.IReadCardBas(card.UTF8)
	want := "350100|350102199003077898|D10000017|350100D156000005300000015A3C9E11|张三|00544553545353350130000001|3.00|20230601|20330601|350100000001||"
	if string(line) != want {
		t.Fatalf("11 fields\n got %s\nwant %s", line, want)
	}
	// + GET CHALLENGE and EXTERNAL AUTHENTICATE.
	if res.APDUs != 8 || res.Basic.Algorithm != card.AlgSM4 || !res.Authenticated {
		t.Fatalf("%d commands, %+v", res.APDUs, res)
	}
	if res.PSAMAPDUs != 10 {
		t.Fatalf("%d PSAM commands, want 10", res.PSAMAPDUs)
	}
	// The JSON form is masked.
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"350102199003077898", "张三", "19900307", "D10000017", "5A3C9E11"} {
		if strings.Contains(string(js), clear) {
			t.Fatalf("%q in clear in %s", clear, js)
		}
	}
	if !strings.Contains(string(js), `"ssn":"**************7898"`) || !strings.Contains(string(js), `"authenticated":true`) {
		t.Fatalf("json %s", js)
	}
}

func TestReadGen3HSM(t *testing.T) {
	// No PSAM at all: the HSM alone.
	b := newBench(t, nil)
	b.insert("zhaoliu")
	res, err := b.read(card.Options{Authorities: []card.Authority{hsm()}})
	if err != nil {
		t.Fatal(err)
	}
	if res.AuthBy != "hsm" || res.TerminalNo != "000000000000" || res.Basic.SSN.Clear() != "350203199512304560" {
		t.Fatalf("%+v", res)
	}
	// PSAM without RKSSSE: -2203 sends the read to the HSM.
	b = newBench(t, &cardsim.PSAMOptions{NoRK: true})
	b.insert("zhangsan")
	res, err = b.read(card.Options{Authorities: []card.Authority{b.psam, hsm()}})
	if err != nil || res.AuthBy != "hsm" {
		t.Fatalf("fallback: %+v %v", res, err)
	}
	// Without the HSM the national code stands.
	_, err = b.read(card.Options{Authorities: []card.Authority{b.psam}})
	if card.CodeOf(err) != card.CodePSAMNoRK {
		t.Fatalf("no RKSSSE, no HSM: %v", err)
	}
}

func TestReadNoAuthority(t *testing.T) {
	b := newBench(t, nil)
	b.insert("lisi")
	_, err := b.read(card.Options{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.Message().Code != 202201 {
		t.Fatalf("no PSAM: %v", err)
	}
	// A diagnostic read without authentication: gen 2 reads, unauthenticated.
	res, err := b.read(card.Options{SkipAuth: true})
	if err != nil || res.Authenticated || res.APDUs != 4 {
		t.Fatalf("skip auth gen 2: %+v %v", res, err)
	}
	// Gen 3 refuses EF06 without RKSSSE.
	b.insert("zhangsan")
	_, err = b.read(card.Options{SkipAuth: true})
	if card.CodeOf(err) != card.SWCode(apdu.SWSecurityStatus) || card.CodeOf(err) != -27010 {
		t.Fatalf("skip auth gen 3: %v", err)
	}
}

func TestReadWrongCards(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{})
	b.insert("bankcard")
	_, err := b.read(card.Options{})
	if card.CodeOf(err) != card.CodeWrongCardType {
		t.Fatalf("bank card: %v", err)
	}
	// A counterfeit: a card whose IRK is not derived from the root.
	p, _ := cardsim.Shipped("lisi")
	p.Behaviour.Counterfeit = true
	b.insertProfile(p)
	_, err = b.read(card.Options{})
	if card.CodeOf(err) != card.CodeInternalAuth {
		t.Fatalf("counterfeit: %v", err)
	}
	// A test card on a production terminal.
	b.insert("lisi")
	c, _ := b.sys.Connect(context.Background(), "Holder 00 00", false)
	defer c.Close(true)
	_, err = card.Read(context.Background(), c, c.ATR(), card.Options{Authorities: []card.Authority{b.psam}})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeWrongCardType || ce.PromptCode() != card.PromptTestCard {
		t.Fatalf("test card on production: %v", err)
	}
}

func TestReadPulledMidRead(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{})
	for _, ins := range []byte{0xB2, 0x88, 0x82} {
		c := b.insert("zhangsan")
		var n atomic.Int32
		c.PullWhen(func(cmd apdu.Command) bool {
			// the second READ RECORD is EF06; the others are pulled at their first use
			return cmd.INS == ins && (ins != 0xB2 || n.Add(1) == 2)
		})
		res, err := b.read(card.Options{})
		var ce *card.Error
		if res != nil || !errors.As(err, &ce) || ce.Code != card.CodeNoCard || ce.PromptCode() != card.PromptRemoved || !drivers.Removed(err) {
			t.Fatalf("pulled at INS %02X: %+v %v", ins, res, err)
		}
	}
}

func TestReadFallbacks(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{})
	for _, c := range []struct {
		name  string
		set   func(*cardsim.Profile)
		apdus int
	}{
		// Record by record by SFI: 7 + 7 records after the refused "P1 to last".
		{"no P1 to last", func(p *cardsim.Profile) { p.Behaviour.NoP1ToLast = true }, 1 + 1 + 1 + 7 + 2 + 7},
		// No SFI either: SELECT EF05 and EF06 first.
		{"no SFI", func(p *cardsim.Profile) { p.Behaviour.NoSFI = true }, 2 + 1 + 1 + 1 + 7 + 2 + 1 + 7},
		// No 9F0C in the FCI: the region rule gives DES, right for this card.
		{"no FCI algorithm", func(p *cardsim.Profile) { p.OmitFCIAlgorithm = true }, 6},
		// A card that ignores Le.
		{"loose Le", func(p *cardsim.Profile) { p.Behaviour.LooseLe = true }, 6},
	} {
		p, _ := cardsim.Shipped("lisi")
		c.set(p)
		b.insertProfile(p)
		res, err := b.read(card.Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.APDUs != c.apdus || res.Basic.Name.Clear() != "李四" || !res.Authenticated {
			t.Fatalf("%s: %d commands (want %d), %+v", c.name, res.APDUs, c.apdus, res)
		}
	}
}

func TestReadT1AndLongName(t *testing.T) {
	b := newBench(t, &cardsim.PSAMOptions{})
	p, _ := cardsim.Shipped("zhangsan")
	// T=1 ATR: 3B ED 00 00 81 31 FE 45 + 13 historical bytes + TCK.
	atr, _ := hex.DecodeString("3BED00008131FE45" + "00544553545353350130000001")
	var tck byte
	for _, x := range atr[1:] {
		tck ^= x
	}
	p.ATR = hex.EncodeToString(append(atr, tck))
	p.EF06.Name = "阿卜杜热合曼·买买提明·阿不都克里木·艾买提"
	b.insertProfile(p)
	res, err := b.read(card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// T=1: no GET RESPONSE.
	if res.APDUs != 6 || res.Basic.Name.Clear() != p.EF06.Name {
		t.Fatalf("%d commands, name %q", res.APDUs, res.Basic.Name.Clear())
	}
	if res.Basic.Name.String() == p.EF06.Name {
		t.Fatal("name not masked")
	}
}

// slowHSM makes the first exchange outlive the time box, then answers.
type slowHSM struct{ calls atomic.Int32 }

func (h *slowHSM) InternalAuth(ctx context.Context, step1 string) (string, error) {
	if h.calls.Add(1) == 1 {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return cardsim.HSM{}.InternalAuth(step1)
}

func TestReadHSMRestartsFromStep1(t *testing.T) {
	b := newBench(t, nil)
	c := b.insert("zhangsan")
	h := &slowHSM{}
	res, err := b.read(card.Options{Authorities: []card.Authority{&psam.HSM{Auth: h, Timeout: 20e6}}})
	if err != nil {
		t.Fatal(err)
	}
	// Two full Step 1s: 2x (INTERNAL AUTHENTICATE + GET RESPONSE + GET CHALLENGE).
	if h.calls.Load() != 2 || res.APDUs != 8+3 || c.Commands() != res.APDUs {
		t.Fatalf("%d HSM calls, %d commands", h.calls.Load(), res.APDUs)
	}
	// Always too slow: the read fails with the HSM prompt after the attempts.
	h2 := &slowHSM{}
	h2.calls.Store(-100)
	b.insert("zhangsan")
	_, err = b.read(card.Options{Authorities: []card.Authority{&psam.HSM{Auth: hsmAlwaysSlow{}, Timeout: 20e6}}, AuthAttempts: 3})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.PromptCode() != card.PromptHSMUnavailable {
		t.Fatalf("always slow: %v", err)
	}
}

type hsmAlwaysSlow struct{}

func (hsmAlwaysSlow) InternalAuth(ctx context.Context, _ string) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

func TestCodes(t *testing.T) {
	if card.SWCode(0x6A88) != -27272 || card.SWCode(0x63C0) != -25536 || card.Code(-37894).Prompt() != 237894 {
		t.Fatal("SW codes")
	}
	if card.CodeNoPSAM.Prompt() != 202201 || card.CodeWrongCardType.Prompt() != 200001 {
		t.Fatal("prompt codes")
	}
	// Every national code and every listed status word has its own message in both
	// languages and all three audiences; the maintainer text carries the code.
	codes := card.NationalCodes()
	for _, sw := range []int{0x6700, 0x6901, 0x6981, 0x6982, 0x6983, 0x6984, 0x6985, 0x6988, 0x6A80, 0x6A81, 0x6A82,
		0x6A83, 0x6A88, 0x9302, 0x9303, 0x9403, 0x9406, 0x63C0, 0x63C1, 0x63C2} {
		codes = append(codes, card.SWCode(apdu.SW(sw)))
	}
	for _, c := range codes {
		m := card.Message(c.Prompt())
		if m.Code != c.Prompt() || m.Holder.EN == "" || m.Operator.EN == "" || m.Maintainer.EN == "" || m.Holder.ZH == "" {
			t.Errorf("code %d: %+v", c, m)
		}
		if strings.Contains(m.Render(prompt.Holder, prompt.ZH), "[") {
			t.Errorf("code %d: holder text with a code", c)
		}
		if !strings.HasSuffix(m.Render(prompt.Maintainer, prompt.ZH), c.Prompt().String()) {
			t.Errorf("code %d: maintainer text %q", c, m.Render(prompt.Maintainer, prompt.ZH))
		}
	}
	// An unlisted status word still gets a message with its own code.
	if m := card.Message(card.SWCode(0x6F01).Prompt()); m.Code != 228417 || !strings.Contains(m.Maintainer.ZH, "状态字") {
		t.Fatalf("unlisted SW: %+v", m)
	}
	if card.CodeOf(nil) != card.CodeOK || card.CodeOf(errors.New("x")) != card.CodeNoResponse {
		t.Fatal("CodeOf")
	}
	if card.CodeOf(drivers.ErrNoService) != card.CodeReaderConnect || card.AsError("x", drivers.ErrNoService).PromptCode() != card.PromptService {
		t.Fatal("service down")
	}
	if !card.CodePSAMKeyNotFound.HSMFallback() || card.CodeInternalAuth.HSMFallback() {
		t.Fatal("fallback codes")
	}
}

func TestCardNoCheck(t *testing.T) {
	for _, c := range []struct {
		no string
		ok bool
	}{{"X00000019", true}, {"HA1046924", true}, {"D10000017", true}, {"D20000029", true}, {"B30000036", true}, {"A21472424", false}} {
		ch, valid := card.CardNoCheck(c.no[:8])
		if !valid || (ch == c.no[8]) != c.ok {
			t.Errorf("%s: check %c", c.no, ch)
		}
	}
	if _, ok := card.CardNoCheck("d1000001"); ok {
		t.Error("lower case accepted")
	}
}

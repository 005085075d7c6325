package psam_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
)

// direct is a Transmitter straight into an emulator.
type direct struct{ icc cardsim.ICC }

func (d direct) Transmit(_ context.Context, cmd []byte) ([]byte, error) { return d.icc.Process(cmd) }

func openPSAM(t *testing.T, o cardsim.PSAMOptions, c psam.Config) (*psam.PSAM, *cardsim.PSAM) {
	t.Helper()
	sim, err := cardsim.NewPSAM(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := psam.Open(context.Background(), direct{sim}, sim.Reset(), c)
	if err != nil {
		t.Fatal(err)
	}
	return p, sim
}

// request builds the request a read of profile name makes, and the card's answers.
func request(t *testing.T, name string) (*card.AuthRequest, *cardsim.Profile) {
	t.Helper()
	prof, err := cardsim.Shipped(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cardsim.NewCard(prof)
	if err != nil {
		t.Fatal(err)
	}
	atr := c.Reset()
	alg := card.AlgDES
	if prof.Algorithm == "SM4" {
		alg = card.AlgSM4
	}
	req := &card.AuthRequest{Algorithm: alg, CardID: prof.EF05.CardID, ATRHistorical: atr[4:]}
	copy(req.Internal.Factor[:], "R1R1R1R1")
	copy(req.Internal.Data[:], "R2R2R2R2")
	if strings.HasPrefix(prof.EF05.Version, "3") {
		req.External = &card.Challenge{}
		copy(req.External.Factor[:], "CHALLENG")
		copy(req.External.Data[:], "ORIGINAL")
	}
	return req, prof
}

// expected computes what the card itself answers, from the test keys.
func expected(t *testing.T, req *card.AuthRequest) *card.AuthResponse {
	t.Helper()
	want := &card.AuthResponse{}
	irk, err := cardsim.CardKey(cardsim.KeyIRK, req.Algorithm, req.Region(), req.ATRHistorical)
	if err != nil {
		t.Fatal(err)
	}
	if want.Internal, err = psam.Authenticate(req.Algorithm, irk, req.Internal); err != nil {
		t.Fatal(err)
	}
	if req.External != nil {
		rk, _ := cardsim.CardKey(cardsim.KeyRK, req.Algorithm, req.Region(), req.ATRHistorical)
		if want.External, err = psam.Authenticate(req.Algorithm, rk, *req.External); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

func TestPSAMInfoAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	p, _ := openPSAM(t, cardsim.PSAMOptions{TerminalNo: "350100123456", Serial: "35010000000000000042"}, psam.Config{})
	info := p.Info()
	if info.TerminalNo != "350100123456" || info.Serial != "35010000000000000042" || !info.Test {
		t.Fatalf("info %+v", info)
	}
	if p.Exchanges() != 2 {
		t.Fatalf("Open took %d commands, want 2 (0016 and 0015 by SFI)", p.Exchanges())
	}
	for _, name := range []string{"lisi", "zhangsan"} {
		req, _ := request(t, name)
		resp, err := p.Authenticate(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := expected(t, req)
		if resp.Internal != want.Internal || resp.External != want.External {
			t.Fatalf("%s: PSAM %x/%x, card keys %x/%x", name, resp.Internal, resp.External, want.Internal, want.External)
		}
		// A T=0 PSAM: environment and DF01 selects with their GET RESPONSEs (4), then
		// per key BF DE, 80 FA and its GET RESPONSE (3).
		wantAPDUs := 4 + 3
		if req.External != nil {
			wantAPDUs += 3
		}
		if resp.APDUs != wantAPDUs {
			t.Fatalf("%s: %d PSAM commands, want %d", name, resp.APDUs, wantAPDUs)
		}
		// The same environment again: no SELECT.
		resp, err = p.Authenticate(ctx, req)
		if err != nil || resp.APDUs != wantAPDUs-4 {
			t.Fatalf("%s again: %v, %d commands", name, err, resp.APDUs)
		}
	}
}

func TestPSAMLevels(t *testing.T) {
	ctx := context.Background()
	// A provincial PSAM (2 levels): the default order tries 3 first, gets 6A80, then 2,
	// and remembers it.
	p, _ := openPSAM(t, cardsim.PSAMOptions{Levels: 2}, psam.Config{InitEnvironment: true})
	req, _ := request(t, "lisi")
	resp, err := p.Authenticate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Internal != expected(t, req).Internal {
		t.Fatal("level-2 PSAM computed a wrong answer")
	}
	// selects 4 + init env 1 + BF DE (3, refused) + BF DE (2) + 80 FA 2.
	if resp.APDUs != 9 {
		t.Fatalf("first read %d commands, want 9", resp.APDUs)
	}
	resp, err = p.Authenticate(ctx, req)
	if err != nil || resp.APDUs != 4 {
		t.Fatalf("second read: %v, %d commands, want 4", err, resp.APDUs)
	}
	// A city PSAM (1 level) configured to try only 3 and 2: key level insufficient.
	p, _ = openPSAM(t, cardsim.PSAMOptions{Levels: 1}, psam.Config{Levels: []int{3, 2}})
	_, err = p.Authenticate(ctx, req)
	if card.CodeOf(err) != card.CodePSAMKeyLevel || !card.CodeOf(err).HSMFallback() {
		t.Fatalf("city PSAM with levels 3,2: %v", err)
	}
}

func TestPSAMMissing(t *testing.T) {
	ctx := context.Background()
	p, _ := openPSAM(t, cardsim.PSAMOptions{NoRK: true}, psam.Config{})
	req, _ := request(t, "zhangsan")
	if _, err := p.Authenticate(ctx, req); card.CodeOf(err) != card.CodePSAMNoRK {
		t.Fatalf("no RKSSSE: %v", err)
	}
	p, _ = openPSAM(t, cardsim.PSAMOptions{Algorithms: []card.Algorithm{card.AlgDES}}, psam.Config{})
	if _, err := p.Authenticate(ctx, req); card.CodeOf(err) != card.CodePSAMAlgorithm {
		t.Fatalf("no SM4 environment: %v", err)
	}
	// The missing environment is remembered: no second SELECT.
	n := p.Exchanges()
	if _, err := p.Authenticate(ctx, req); card.CodeOf(err) != card.CodePSAMAlgorithm || p.Exchanges() != n {
		t.Fatalf("second try: %v, %d more commands", err, p.Exchanges()-n)
	}
	// Another IRK id than the PSAM holds: 6A88 at every level -> key not found.
	p, _ = openPSAM(t, cardsim.PSAMOptions{}, psam.Config{IRK: psam.KeyRef{Type: 7, ID: "0B"}})
	req, _ = request(t, "lisi")
	if _, err := p.Authenticate(ctx, req); card.CodeOf(err) != card.CodePSAMKeyNotFound {
		t.Fatalf("unknown IRK id: %v", err)
	}
}

func TestPSAMOpenErrors(t *testing.T) {
	sim, _ := cardsim.NewPSAM(cardsim.PSAMOptions{})
	if _, err := psam.Open(context.Background(), direct{sim}, []byte{0x3B}, psam.Config{}); card.CodeOf(err) != card.CodeNoPSAM {
		t.Fatalf("bad ATR: %v", err)
	}
	bank, _ := cardsim.Shipped("bankcard")
	c, _ := cardsim.NewCard(bank)
	_, err := psam.Open(context.Background(), direct{c}, c.Reset(), psam.Config{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.PromptCode() != card.PromptPSAMFailed {
		t.Fatalf("a non-PSAM in the PSAM slot: %v", err)
	}
}

// hsmFunc is an InternalAuthenticator from a function.
type hsmFunc func(ctx context.Context, step1 string) (string, error)

func (f hsmFunc) InternalAuth(ctx context.Context, s string) (string, error) { return f(ctx, s) }

func TestHSM(t *testing.T) {
	ctx := context.Background()
	req, _ := request(t, "zhangsan")
	var seen atomic.Value
	h := &psam.HSM{DeviceNo: "SSCAGENT-TEST-DEVICE-00000000001", Auth: hsmFunc(func(ctx context.Context, s string) (string, error) {
		seen.Store(s)
		return cardsim.Authenticator{HSM: cardsim.HSM{}}.InternalAuth(ctx, s)
	})}
	resp, err := h.Authenticate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(t, req)
	if resp.Internal != want.Internal || resp.External != want.External {
		t.Fatal("HSM answer differs from the card keys")
	}
	step1 := seen.Load().(string)
	wantStep1 := "350100|00544553545353350130000001|03|350100D156000005300000015A3C9E11|" +
		"5231523152315231|5232523252325232|4348414C4C454E47|4F524947494E414C|SSCAGENT-TEST-DEVICE-00000000001|"
	if step1 != wantStep1 {
		t.Fatalf("step 1\n got %s\nwant %s", step1, wantStep1)
	}
	// Gen 2: the external fields are empty, pKey's second part too.
	req2, _ := request(t, "lisi")
	s1 := psam.Step1(req2, "")
	if !strings.HasSuffix(s1, "|5232523252325232|||") {
		t.Fatalf("gen-2 step 1 %s", s1)
	}
	pKey, err := cardsim.HSM{}.InternalAuth(s1)
	if err != nil || !strings.HasSuffix(pKey, "5232523252325232||") {
		t.Fatalf("gen-2 pKey %q %v", pKey, err)
	}
}

func TestHSMFailures(t *testing.T) {
	ctx := context.Background()
	req, _ := request(t, "zhangsan")
	for _, c := range []struct {
		name    string
		auth    hsmFunc
		code    card.Code
		prompt  int
		expired bool
	}{
		{"rejected", func(context.Context, string) (string, error) {
			return "", &platform.Error{Op: "cardInternalAuth", Class: platform.ClassRejected, MsgCode: "100101"}
		}, card.CodeInternalAuth, int(card.PromptHSMRejected), false},
		{"retryable", func(context.Context, string) (string, error) {
			return "", &platform.Error{Op: "cardInternalAuth", Class: platform.ClassRetryable}
		}, card.CodeNoPSAM, int(card.PromptHSMUnavailable), true},
		{"timeout", func(ctx context.Context, _ string) (string, error) {
			<-ctx.Done()
			return "", ctx.Err()
		}, card.CodeNoPSAM, int(card.PromptHSMUnavailable), true},
		{"unverified", func(context.Context, string) (string, error) {
			return "", &platform.Error{Op: "cardInternalAuth", Class: platform.ClassUnverified}
		}, card.CodeNoPSAM, int(card.PromptHSMUnavailable), false},
		{"wrong echo", func(context.Context, string) (string, error) {
			return strings.Repeat("0", 32) + "|" + strings.Repeat("0", 32) + "|", nil
		}, card.CodeInvalidInput, int(card.PromptHSMUnavailable), false},
	} {
		h := &psam.HSM{Auth: c.auth, Timeout: 50 * time.Millisecond}
		_, err := h.Authenticate(ctx, req)
		var ce *card.Error
		if !errors.As(err, &ce) || ce.Code != c.code || int(ce.PromptCode()) != c.prompt || errors.Is(err, card.ErrAuthExpired) != c.expired {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// The read's own cancellation is not an HSM failure.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	h := &psam.HSM{Auth: hsmFunc(func(ctx context.Context, _ string) (string, error) { return "", ctx.Err() })}
	if _, err := h.Authenticate(cctx, req); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestStepStrings(t *testing.T) {
	req, _ := request(t, "zhangsan")
	s1 := psam.Step1(req, "DEV")
	back, dev, err := psam.ParseStep1(s1)
	if err != nil || dev != "DEV" || back.CardID != req.CardID || back.Internal != req.Internal ||
		back.External == nil || *back.External != *req.External || back.Algorithm != req.Algorithm {
		t.Fatalf("round trip: %+v %q %v", back, dev, err)
	}
	// The domain.md §2.5 real example parses.
	real := "519900|3B6D000000814A444686605199000001AC|03|519900D15600000510000B26FFFFFFFF|32D9E876ADB31BBF|DBF7A936D0D18C9E|98B4D293D091C331|E603E2CAADAF02B6|00000000000000000000000000000000|"
	if r, dev, err := psam.ParseStep1(real); err != nil || dev == "" || r.Algorithm != card.AlgSM4 {
		t.Fatalf("real step 1: %v", err)
	}
	for _, bad := range []string{"", "350100|", strings.Replace(s1, "|03|", "|3|", 1), strings.Replace(s1, "350100|", "350200|", 1),
		strings.Replace(s1, "4348414C4C454E47", "", 1), s1 + "x|"} {
		if _, _, err := psam.ParseStep1(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// The domain.md §2.5 real Step 2 answer parses against its challenge.
	r2 := &card.AuthRequest{External: &card.Challenge{}}
	copy(r2.Internal.Data[:], []byte{0xDB, 0xF7, 0xA9, 0x36, 0xD0, 0xD1, 0x8C, 0x9E})
	copy(r2.External.Data[:], []byte{0xE6, 0x03, 0xE2, 0xCA, 0xAD, 0xAF, 0x02, 0xB6})
	resp, err := psam.ParseStep2("F4A0CF965BDCEA30DBF7A936D0D18C9E|774A08EDF447A1DEE603E2CAADAF02B6|", r2)
	if err != nil || resp.Internal != [8]byte{0xF4, 0xA0, 0xCF, 0x96, 0x5B, 0xDC, 0xEA, 0x30} {
		t.Fatalf("real step 2: %+v %v", resp, err)
	}
	for _, bad := range []string{"", "|", "F4A0CF965BDCEA30DBF7A936D0D18C9E|", "F4A0CF965BDCEA30DBF7A936D0D18C9F|774A08EDF447A1DEE603E2CAADAF02B6|",
		"F4A0CF965BDCEA30DBF7A936D0D18C9E||"} {
		if _, err := psam.ParseStep2(bad, r2); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseStep1(f *testing.F) {
	f.Add("519900|3B6D000000814A444686605199000001AC|03|519900D15600000510000B26FFFFFFFF|32D9E876ADB31BBF|DBF7A936D0D18C9E|98B4D293D091C331|E603E2CAADAF02B6|00000000000000000000000000000000|")
	f.Add("350100|00544553545353350120000002|01|350100D156000005200000027B2D0F42|5231523152315231|5232523252325232|||")
	f.Add("|||||||||")
	f.Fuzz(func(t *testing.T, s string) {
		req, dev, err := psam.ParseStep1(s)
		if err != nil {
			return
		}
		if back := psam.Step1(req, dev); !strings.EqualFold(back, s) && dev != "" {
			// Normalised forms (case) may differ; the content must re-parse equal.
			again, dev2, err := psam.ParseStep1(back)
			if err != nil || dev2 != dev || again.Internal != req.Internal {
				t.Fatalf("%q -> %q: %v", s, back, err)
			}
		}
		// The HSM never panics on a parsed request.
		_, _ = cardsim.HSM{}.InternalAuth(s)
	})
}

func FuzzParseStep2(f *testing.F) {
	f.Add("F4A0CF965BDCEA30DBF7A936D0D18C9E|774A08EDF447A1DEE603E2CAADAF02B6|")
	f.Add("||")
	f.Fuzz(func(t *testing.T, s string) {
		req := &card.AuthRequest{External: &card.Challenge{}}
		_, _ = psam.ParseStep2(s, req)
		req.External = nil
		_, _ = psam.ParseStep2(s, req)
	})
}

// TestPSAMOpenAfterAnotherUser: a PSAM left inside DF01 by its previous user still
// opens (SELECT MF, then the files by SFI).
func TestPSAMOpenAfterAnotherUser(t *testing.T) {
	p, sim := openPSAM(t, cardsim.PSAMOptions{}, psam.Config{})
	req, _ := request(t, "lisi")
	if _, err := p.Authenticate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	again, err := psam.Open(context.Background(), direct{sim}, psamATR(t), psam.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Info().TerminalNo != "350100000001" || again.Exchanges() != 4 {
		t.Fatalf("%+v after %d commands", again.Info(), again.Exchanges())
	}
}

func psamATR(t *testing.T) []byte {
	b, err := hex.DecodeString(cardsim.DefaultPSAMATR)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

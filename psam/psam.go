// Package psam runs the security operations of a social security card read: in a PSAM
// (社保 PSAM卡, PSAM spec part 9) through DELIVERY SESSION KEY (BF DE) and CIPHER DATA
// (80 FA), or in the platform's HSM (加密机) through the national two-step exchange
// (iReadCardBas_HSM_Step1/Step2). Both are card.Authority implementations: the card
// package asks them for the answer a genuine card gives to a challenge and for the
// RKSSSE authentication data that opens a gen-3 card's EF06.
//
// # PSAM
//
// A PSAM has one environment per algorithm: sx1 (DES, at the MF), sx2 (SSF33, DDF1) and
// sx3 (SM4), each with the application DF01. Files 0015 (card public data: issuer, PSAM
// serial) and 0016 (the 终端机编号) sit in the MF. Keys are referenced by usage byte
// (b8-b6: diversification levels, b5-b1: type) and key id; the default references are
// IRK type 7 id 08 and RKSSSE type 7 id 0A. A PSAM may hold national (3 levels),
// provincial (2) or city (1) roots: PSAM tries the configured levels in order and
// remembers the one that worked.
//
// # HSM
//
// HSM sends the Step 1 string (region, ATR historical bytes, algorithm, 卡识别码 and the
// challenges) through an InternalAuthenticator, the platform's card internal-auth
// service, and checks the Step 2 answer. The exchange is time-boxed; when it expires
// the card read restarts from Step 1, because the card's challenge is single-use.
//
// # Software algorithms
//
// crypto.go holds the algorithms a PSAM and HSM compute (key diversification, session
// keys, authentication data). The agent itself never holds card keys; the sandbox's
// virtual card, PSAM and HSM use these functions.
package psam

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
)

// Environment names (DF names) of the PSAM spec: GBK "sxN.sh.社会保障".
var (
	EnvDES   = envName('1') // sx1: DES/3DES
	EnvSSF33 = envName('2') // sx2: SSF33
	EnvSM4   = envName('3') // sx3: SM4
)

func envName(n byte) []byte {
	b := bytes.Clone(card.SSSEName)
	b[2] = n
	return b
}

// EnvFor returns the environment name of an algorithm.
func EnvFor(alg card.Algorithm) ([]byte, bool) {
	switch alg {
	case card.AlgDES:
		return EnvDES, true
	case card.AlgSSF33:
		return EnvSSF33, true
	case card.AlgSM4:
		return EnvSM4, true
	}
	return nil, false
}

// Info is what the PSAM says about itself.
type Info struct {
	// ATR is the PSAM's answer to reset.
	ATR []byte `json:"atr"`
	// TerminalNo is the 终端机编号 from file 0016: 12 digits, the first 6 the issuing
	// city.
	TerminalNo string `json:"terminalNo"`
	// Serial is the PSAM序列号 from file 0015 (20 digits).
	Serial string `json:"serial"`
	// Issuer, Version and KeyType are the other bytes of file 0015.
	Issuer  byte `json:"issuer"`
	Version byte `json:"version"`
	KeyType byte `json:"keyType"`
	// Test: the PSAM is a sandbox test instrument (its ATR carries the test marker).
	Test bool `json:"test"`
}

// PSAM is an opened PSAM. It is safe for concurrent use: operations run one at a time,
// since a session key lives in the PSAM between DELIVERY SESSION KEY and CIPHER DATA.
type PSAM struct {
	o    Config
	t0   bool
	info Info

	mu     sync.Mutex // guards the fields below and serialises commands
	ch     *apdu.Channel
	env    card.Algorithm           // environment selected now; 0 none
	levels map[levelKey]int         // diversification levels that worked
	noEnv  map[card.Algorithm]error // environments the PSAM does not have
}

type levelKey struct {
	alg   card.Algorithm
	typ   byte
	keyID byte
}

var _ card.Authority = (*PSAM)(nil)

// Open reads the PSAM's files through t and returns it ready for Authenticate. atr is
// its answer to reset.
func Open(ctx context.Context, t apdu.Transmitter, atr []byte, o Config) (*PSAM, error) {
	o = o.withDefaults()
	a, err := apdu.ParseATR(atr)
	if err != nil {
		return nil, psamError("answer to reset", err)
	}
	p := &PSAM{o: o, ch: apdu.NewChannel(t, apdu.ChannelOptions{}), t0: a.Protocols[0] == 0,
		levels: map[levelKey]int{}, noEnv: map[card.Algorithm]error{}}
	p.info.ATR = bytes.Clone(atr)
	p.info.Test = card.IsTestATR(a.Historical)
	f16, err := p.readFile(ctx, 0x16, 6)
	if err != nil {
		return nil, err
	}
	p.info.TerminalNo = strings.ToUpper(fmt.Sprintf("%X", f16))
	if !isDigits(p.info.TerminalNo) {
		return nil, psamError("read 0016", fmt.Errorf("终端机编号 %q is not 12 digits", p.info.TerminalNo))
	}
	f15, err := p.readFile(ctx, 0x15, 15)
	if err != nil {
		return nil, err
	}
	p.info.Issuer = f15[0]
	p.info.Serial = strings.TrimRight(fmt.Sprintf("%X", f15[1:11]), "F")
	p.info.Version, p.info.KeyType = f15[11], f15[12]
	return p, nil
}

// Info returns what Open read.
func (p *PSAM) Info() Info { return p.info }

// Exchanges counts the commands sent to the PSAM since Open.
func (p *PSAM) Exchanges() int { return p.ch.Exchanges() }

// Name implements card.Authority.
func (p *PSAM) Name() string { return "psam" }

// psamError is a PSAM that does not work: -2201 with the PSAM prompt, so the read falls
// back to the HSM.
func psamError(op string, err error) *card.Error {
	return &card.Error{Code: card.CodeNoPSAM, Prompt: card.PromptPSAMFailed, Op: "psam " + op, Err: err}
}

// readFile reads a transparent file of the MF: by short file identifier first (one
// command), by SELECT and READ BINARY when the PSAM refuses that.
func (p *PSAM) readFile(ctx context.Context, sfi byte, n int) ([]byte, error) {
	op := fmt.Sprintf("read %04X", sfi)
	cmd := apdu.Command{INS: 0xB0, P1: 0x80 | sfi, Ne: n}
	r, err := p.ch.Send(ctx, cmd)
	if err != nil {
		return nil, psamError(op, err)
	}
	if r.SW != apdu.SWOK {
		// The PSAM may have been left in an application by its last user: select the
		// MF and try again, then by file identifier.
		mf := apdu.Command{INS: 0xA4, Data: []byte{0x3F, 0x00}}
		if _, err := p.ch.Do(ctx, mf); err != nil {
			return nil, psamError(op, err)
		}
		if r, err = p.ch.Send(ctx, cmd); err != nil {
			return nil, psamError(op, err)
		}
	}
	if r.SW != apdu.SWOK {
		sel := apdu.Command{INS: 0xA4, Data: []byte{0x00, sfi}}
		if _, err := p.ch.Do(ctx, sel); err != nil {
			return nil, psamError(op, err)
		}
		if r, err = p.ch.Send(ctx, apdu.Command{INS: 0xB0, Ne: n}); err != nil {
			return nil, psamError(op, err)
		}
		if err := r.Err(cmd); err != nil {
			return nil, psamError(op, err)
		}
	}
	if len(r.Data) < n {
		return nil, psamError(op, fmt.Errorf("%d bytes, want %d", len(r.Data), n))
	}
	return r.Data[:n], nil
}

// selectEnv makes the environment of alg current; p.mu is held.
func (p *PSAM) selectEnv(ctx context.Context, alg card.Algorithm) error {
	if p.env == alg {
		return nil
	}
	if err := p.noEnv[alg]; err != nil {
		return err
	}
	name, ok := EnvFor(alg)
	if !ok {
		return &card.Error{Code: card.CodePSAMAlgorithm, Op: "psam select environment",
			Err: fmt.Errorf("no environment for algorithm %s", alg)}
	}
	p.env = 0
	r, err := p.ch.Send(ctx, apdu.Command{INS: 0xA4, P1: 0x04, Data: name, Ne: p.caseNe(apdu.MaxShort)})
	if err != nil {
		return psamError("select environment", err)
	}
	if r.SW != apdu.SWOK {
		e := &card.Error{Code: card.CodePSAMAlgorithm, Op: "psam select environment",
			Err: fmt.Errorf("no %s environment: %w", alg.Name(), &apdu.StatusError{SW: r.SW, Command: "SELECT"})}
		p.noEnv[alg] = e
		return e
	}
	adf := apdu.Command{INS: 0xA4, Data: []byte{0xDF, 0x01}, Ne: p.caseNe(apdu.MaxShort)}
	if _, err := p.ch.Do(ctx, adf); err != nil {
		return psamError("select DF01", err)
	}
	p.env = alg
	return nil
}

func (p *PSAM) caseNe(n int) int {
	if p.t0 {
		return 0
	}
	return n
}

// Authenticate implements card.Authority: the expected answer of the card to the
// internal challenge (IRK), and for gen-3 cards the RKSSSE authentication data.
func (p *PSAM) Authenticate(ctx context.Context, req *card.AuthRequest) (*card.AuthResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	before := p.ch.Exchanges()
	resp := &card.AuthResponse{}
	err := p.authenticate(ctx, req, resp)
	resp.APDUs = p.ch.Exchanges() - before
	if err != nil {
		return resp, err
	}
	return resp, nil
}

func (p *PSAM) authenticate(ctx context.Context, req *card.AuthRequest, resp *card.AuthResponse) error {
	if err := p.selectEnv(ctx, req.Algorithm); err != nil {
		return err
	}
	if p.o.InitEnvironment {
		first, err := bcdByte(req.CardID)
		if err != nil {
			return &card.Error{Code: card.CodeCardIDFormat, Op: "psam initialize environment", Err: err}
		}
		cmd := apdu.Command{CLA: 0xBF, INS: 0xEC, Data: []byte{first}}
		if _, err := p.ch.Do(ctx, cmd); err != nil {
			return psamError("initialize environment", err)
		}
	}
	var err error
	if resp.Internal, err = p.compute(ctx, req, p.o.IRK, req.Internal, false); err != nil {
		return err
	}
	if req.External != nil {
		if resp.External, err = p.compute(ctx, req, p.o.RK, *req.External, true); err != nil {
			return err
		}
	}
	return nil
}

// compute derives the card's session key in the PSAM and encrypts the challenge's data
// with it: BF DE then 80 FA. Levels are tried as configured.
func (p *PSAM) compute(ctx context.Context, req *card.AuthRequest, key KeyRef, c card.Challenge, rk bool) ([8]byte, error) {
	var out [8]byte
	lk := levelKey{req.Algorithm, key.typ(), key.id()}
	tries := p.o.Levels
	if n, ok := p.levels[lk]; ok {
		tries = append([]int{n}, without(tries, n)...)
	}
	bs := req.Algorithm.BlockSize()
	var lastSW apdu.SW
	sawLevel := false
	for _, levels := range tries {
		factors, err := Factors(req.Region(), req.ATRHistorical, levels)
		if err != nil {
			return out, &card.Error{Code: card.CodeCardIDFormat, Op: "psam diversify", Err: err}
		}
		data := make([]byte, 0, 8*len(factors)+bs)
		for _, f := range factors {
			data = append(data, f[:]...)
		}
		data = append(data, c.Factor[:]...)
		data = append(data, make([]byte, bs-8)...)
		deliver := apdu.Command{CLA: 0xBF, INS: 0xDE, P1: byte(levels)<<5 | key.typ(), P2: key.id(), Data: data}
		r, err := p.ch.Send(ctx, deliver)
		if err != nil {
			return out, psamError("delivery session key", err)
		}
		if r.SW == apdu.SWWrongData || r.SW == apdu.SWRefNotFound {
			// 6A80 分散级数不符 or 6A88 no key under this usage: try other levels.
			lastSW = r.SW
			sawLevel = sawLevel || r.SW == apdu.SWWrongData
			continue
		}
		if r.SW != apdu.SWOK && r.SW.SW1() != 0x61 {
			return out, &card.Error{Code: card.SWCode(r.SW), Op: "psam delivery session key", Err: r.Err(deliver)}
		}
		p.levels[lk] = levels
		plain := make([]byte, bs)
		copy(plain, c.Data[:])
		cipher := apdu.Command{CLA: 0x80, INS: 0xFA, Data: plain, Ne: p.caseNe(bs)}
		enc, err := p.ch.Do(ctx, cipher)
		if err != nil {
			if _, isSW := apdu.StatusOf(err); isSW {
				return out, card.AsError("psam cipher data", err)
			}
			return out, psamError("cipher data", err)
		}
		if len(enc) != bs {
			return out, psamError("cipher data", fmt.Errorf("%d bytes, want %d", len(enc), bs))
		}
		FoldHalves(&out, enc)
		return out, nil
	}
	switch {
	case rk && !sawLevel:
		return out, &card.Error{Code: card.CodePSAMNoRK, Op: "psam delivery session key",
			Err: fmt.Errorf("RKSSSE (type %d id %02X): %w", key.typ(), key.id(), lastSW)}
	case sawLevel:
		return out, &card.Error{Code: card.CodePSAMKeyLevel, Op: "psam delivery session key",
			Err: fmt.Errorf("no diversification level of %v fits (type %d id %02X): %w", p.o.Levels, key.typ(), key.id(), lastSW)}
	}
	return out, &card.Error{Code: card.SWCode(lastSW), Op: "psam delivery session key",
		Err: fmt.Errorf("IRK (type %d id %02X): %w", key.typ(), key.id(), lastSW)}
}

func without(xs []int, x int) []int {
	out := make([]int, 0, len(xs))
	for _, v := range xs {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// bcdByte is the first byte of a 卡识别码 (two BCD digits).
func bcdByte(cardID string) (byte, error) {
	if len(cardID) < 2 || !isDigits(cardID[:2]) {
		return 0, errors.New("卡识别码 does not start with two digits")
	}
	return (cardID[0]-'0')<<4 | (cardID[1] - '0'), nil
}

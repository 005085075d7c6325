package cardsim

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/psam"
)

// Card is a virtual social security card (see the package documentation). It is safe
// for concurrent use.
type Card struct {
	p   *Profile
	r   *records
	irk []byte
	rk  []byte

	mu       sync.Mutex // guards the fields below
	t0       t0
	dfSSSE   bool   // SSSE selected
	ef       byte   // current EF (5 or 6), 0 none
	chal     []byte // GET CHALLENGE random; single use
	rkOK     bool   // RKSSSE external authentication passed since reset
	tries    int    // RKSSSE tries left (survives resets, as in EEPROM)
	maxTries int
	pull     func(apdu.Command) bool
	commands int
	pu       *purse // DF04; nil without SSSE
}

var _ ICC = (*Card)(nil)

// NewCard builds the card of a profile, with keys derived from the test roots.
func NewCard(p *Profile) (*Card, error) {
	r, err := p.build()
	if err != nil {
		return nil, fmt.Errorf("cardsim: %w", err)
	}
	c := &Card{p: p, r: r, maxTries: p.Behaviour.ExternalTries}
	if c.maxTries <= 0 {
		c.maxTries = 3
	}
	c.tries = c.maxTries
	if !p.NoSSSE {
		irk := KeyIRK
		if p.Behaviour.Counterfeit {
			irk = "counterfeit"
		}
		if c.irk, err = CardKey(irk, r.alg, p.Region(), r.hist); err != nil {
			return nil, fmt.Errorf("cardsim: %w", err)
		}
		if c.rk, err = CardKey(KeyRK, r.alg, p.Region(), r.hist); err != nil {
			return nil, fmt.Errorf("cardsim: %w", err)
		}
		if c.pu, err = newPurse(p, r); err != nil {
			return nil, fmt.Errorf("cardsim: %w", err)
		}
	}
	c.t0.on = !offersT1(r.atr)
	return c, nil
}

func offersT1(atr []byte) bool {
	a, err := apdu.ParseATR(atr)
	if err != nil {
		return false
	}
	for _, p := range a.Protocols {
		if p == 1 {
			return true
		}
	}
	return false
}

// Profile returns the card's profile.
func (c *Card) Profile() *Profile { return c.p }

// PullWhen makes the card "pulled out" at the first command for which f returns true
// (Process returns ErrPulled instead of answering); nil clears it.
func (c *Card) PullWhen(f func(apdu.Command) bool) {
	c.mu.Lock()
	c.pull = f
	c.mu.Unlock()
}

// Commands counts the commands answered since NewCard.
func (c *Card) Commands() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commands
}

// Reset implements ICC.
func (c *Card) Reset() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
	return bytes.Clone(c.r.atr)
}

// PowerOff implements ICC.
func (c *Card) PowerOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *Card) resetLocked() {
	c.t0.pending = nil
	c.dfSSSE, c.ef, c.chal, c.rkOK = false, 0, nil, false
	if c.pu != nil {
		c.pu.reset()
	}
}

// Process implements ICC.
func (c *Card) Process(raw []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		return sw(apdu.SWWrongLength), nil
	}
	if c.pull != nil && c.pull(cmd) {
		c.pull = nil
		return nil, ErrPulled
	}
	c.commands++
	out := c.process(cmd)
	if c.pu != nil && c.pu.pullAfter != nil && c.pu.pullAfter(cmd) {
		c.pu.pullAfter = nil
		return nil, ErrPulled // carried out, never answered
	}
	return out, nil
}

func (c *Card) process(cmd apdu.Command) []byte {
	if cmd.INS == 0xC0 && cmd.CLA == 0 {
		return c.t0.getResponse(cmd)
	}
	c.t0.pending = nil
	if cmd.CLA == 0xB0 && c.pu != nil && c.dfSSSE {
		return c.purseCommand(cmd)
	}
	if cmd.CLA != 0x00 {
		return sw(apdu.SWCLANotSupported)
	}
	switch cmd.INS {
	case 0xA4:
		return c.selectFile(cmd)
	case 0xB2:
		if c.pu != nil && c.pu.selected {
			return c.readPurseRecord(cmd)
		}
		return c.readRecord(cmd)
	case 0x84:
		return c.getChallenge(cmd)
	case 0x88:
		return c.internalAuth(cmd)
	case 0x82:
		return c.externalAuth(cmd)
	case 0x20:
		if c.pu != nil {
			return c.verifyPIN(cmd)
		}
	}
	return sw(apdu.SWINSNotSupported)
}

func (c *Card) fci() []byte {
	a5 := []byte{0x88, 0x01, 0x1E}
	if !c.p.OmitFCIAlgorithm {
		a5 = append(a5, 0x9F, 0x0C, 0x03, 0x86, 0x01, byte(c.r.alg))
	}
	in := append([]byte{0x84, byte(len(card.SSSEName))}, card.SSSEName...)
	in = append(in, 0xA5, byte(len(a5)))
	in = append(in, a5...)
	return append([]byte{0x6F, byte(len(in))}, in...)
}

func (c *Card) selectFile(cmd apdu.Command) []byte {
	switch {
	case cmd.P1 == 0x04 && c.dfSSSE && c.pu != nil && bytes.Equal(cmd.Data, card.DF04AID):
		return c.selectDF04(cmd)
	case cmd.P1 == 0x04:
		if c.pu != nil {
			c.pu.reset()
		}
		if c.p.NoSSSE || len(cmd.Data) == 0 || !bytes.HasPrefix(card.SSSEName, cmd.Data) {
			return sw(apdu.SWFileNotFound)
		}
		c.dfSSSE, c.ef, c.rkOK = true, 0, false
		if cmd.P2&0x0C == 0x0C {
			return sw(apdu.SWOK)
		}
		return c.t0.reply(cmd, c.fci())
	case (cmd.P1 == 0x00 || cmd.P1 == 0x02) && len(cmd.Data) == 2:
		fid := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1])
		switch {
		case fid == 0x3F00 && cmd.P1 == 0x00:
			c.dfSSSE, c.ef, c.rkOK = false, 0, false
			if c.pu != nil {
				c.pu.reset()
			}
			return sw(apdu.SWOK)
		case c.dfSSSE && (fid == 0xEF05 || fid == 0xEF06):
			c.ef = byte(fid)
			if cmd.P2&0x0C == 0x0C {
				return sw(apdu.SWOK)
			}
			return c.t0.reply(cmd, []byte{0x62, 0x04, 0x83, 0x02, cmd.Data[0], cmd.Data[1]})
		}
		return sw(apdu.SWFileNotFound)
	}
	return sw(apdu.SWWrongP1P2)
}

func (c *Card) readRecord(cmd apdu.Command) []byte {
	sfi, mode := cmd.P2>>3, cmd.P2&0x07
	ef := c.ef
	switch {
	case !c.dfSSSE:
		return sw(apdu.SWFileNotFound)
	case sfi == 0 && ef == 0:
		return sw(apdu.SWNoCurrentEF)
	case sfi != 0 && c.p.Behaviour.NoSFI:
		return sw(apdu.SWWrongP1P2)
	case sfi == 5 || sfi == 6:
		ef = sfi
	case sfi != 0:
		return sw(apdu.SWFileNotFound)
	}
	recs := c.r.ef05
	if ef == 6 {
		recs = c.r.ef06
		if c.r.gen >= 3 && !c.rkOK {
			return sw(apdu.SWSecurityStatus)
		}
	}
	return c.answerRecords(cmd, mode, recs, c.p.Behaviour.NoP1ToLast, c.p.Behaviour.LooseLe)
}

// answerRecords answers READ RECORD in mode (P2's low bits: 04 by number, 05 from P1 to
// the last, 00 the first with identifier P1) from recs. noP1ToLast refuses mode 05,
// looseLe accepts any Le (profile behaviours of real cards).
func (c *Card) answerRecords(cmd apdu.Command, mode byte, recs [][]byte, noP1ToLast, looseLe bool) []byte {
	var data []byte
	switch mode {
	case 0x04: // by number
		if cmd.P1 == 0 || int(cmd.P1) > len(recs) {
			return sw(apdu.SWRecordNotFound)
		}
		data = recs[cmd.P1-1]
	case 0x05: // P1 to last
		if noP1ToLast {
			return sw(apdu.SWWrongP1P2)
		}
		if cmd.P1 == 0 || int(cmd.P1) > len(recs) {
			return sw(apdu.SWRecordNotFound)
		}
		for _, r := range recs[cmd.P1-1:] {
			data = append(data, r...)
		}
	case 0x00: // first occurrence of the identifier P1
		for _, r := range recs {
			if r[0] == cmd.P1 {
				data = r
				break
			}
		}
		if data == nil {
			return sw(apdu.SWRecordNotFound)
		}
	default:
		return sw(apdu.SWWrongP1P2)
	}
	if cmd.Ne != len(data) && !looseLe {
		return sw(apdu.SW(0x6C00 | uint16(len(data)&0xFF)))
	}
	return c.t0.reply(apdu.Command{Ne: cmd.Ne}, data)
}

func (c *Card) getChallenge(cmd apdu.Command) []byte {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	if cmd.Ne != 4 && cmd.Ne != 8 && cmd.Ne != 16 {
		return sw(apdu.SWWrongLength)
	}
	c.chal = make([]byte, cmd.Ne)
	_, _ = rand.Read(c.chal)
	return append(bytes.Clone(c.chal), 0x90, 0x00)
}

// internalAuth answers 00 88 00 00 10 R1||R2 [key version] with the IRK.
func (c *Card) internalAuth(cmd apdu.Command) []byte {
	if !c.dfSSSE {
		return sw(apdu.SWConditions)
	}
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) != 16 && len(cmd.Data) != 17 {
		return sw(apdu.SWWrongLength)
	}
	var ch card.Challenge
	copy(ch.Factor[:], cmd.Data[:8])
	copy(ch.Data[:], cmd.Data[8:16])
	out, err := psam.Authenticate(c.r.alg, c.irk, ch)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	return c.t0.reply(cmd, out[:])
}

// externalAuth checks 00 82 00 0A 10|11 auth||orig [key version] against RKSSSE and the
// current challenge, which it consumes.
func (c *Card) externalAuth(cmd apdu.Command) []byte {
	if !c.dfSSSE {
		return sw(apdu.SWConditions)
	}
	if cmd.P1 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	if cmd.P2 != 0x0A {
		return sw(apdu.SWRefNotFound)
	}
	if len(cmd.Data) != 16 && len(cmd.Data) != 17 {
		return sw(apdu.SWWrongLength)
	}
	if c.tries == 0 {
		return sw(apdu.SWAuthBlocked)
	}
	chal := c.chal
	c.chal = nil // single use, whatever the outcome
	if len(chal) != 8 {
		return sw(apdu.SWRefDataInvalid)
	}
	var ch card.Challenge
	copy(ch.Factor[:], chal)
	copy(ch.Data[:], cmd.Data[8:16])
	want, err := psam.Authenticate(c.r.alg, c.rk, ch)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	if !bytes.Equal(want[:], cmd.Data[:8]) {
		c.tries--
		return sw(apdu.SW(0x63C0 | uint16(c.tries)))
	}
	c.tries = c.maxTries
	c.rkOK = true
	return sw(apdu.SWOK)
}

// LoadCard builds the card of a shipped profile name or a profile file (see
// LoadProfileOrShipped).
func LoadCard(profile string) (*Card, error) {
	p, err := LoadProfileOrShipped(profile)
	if err != nil {
		return nil, err
	}
	return NewCard(p)
}

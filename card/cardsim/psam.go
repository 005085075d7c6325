package cardsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/psam"
)

// DefaultPSAMATR is the virtual PSAM's ATR: T=0, historical bytes 00 "TEST" "PS" 3501
// 00000001 (the test marker makes production terminals refuse it).
const DefaultPSAMATR = "3B6D000000544553545053350100000001"

// PSAMOptions configures a virtual PSAM. The zero value is a national-level (3-level)
// PSAM of region 350100 with the DES and SM4 environments and both keys.
type PSAMOptions struct {
	// ATR in hex; default DefaultPSAMATR.
	ATR string
	// TerminalNo is the 终端机编号 in file 0016, 12 digits; default "350100000001".
	TerminalNo string
	// Serial is the PSAM序列号 in file 0015, 20 digits; default "35010000000000000001".
	Serial string
	// Levels is the level of the roots it holds: 3 national, 2 the province of its
	// region, 1 its city. Default 3.
	Levels int
	// Region is the PSAM's issuing city for Levels 1 and 2; default the first 6 digits
	// of TerminalNo.
	Region string
	// Algorithms are its environments; default DES (sx1) and SM4 (sx3).
	Algorithms []card.Algorithm
	// NoRK leaves the RKSSSE key out (the PSAM cannot read gen-3 cards: -2203).
	NoRK bool
	// NoDPK leaves the medical purchase key out (80 70 answers 6A88).
	NoDPK bool
}

type psamKey struct {
	typ, id byte
	levels  int
	root    []byte
}

// PSAM is a virtual PSAM (see the package documentation). It is safe for concurrent
// use.
type PSAM struct {
	o    PSAMOptions
	atr  []byte
	f15  []byte
	f16  []byte
	keys map[card.Algorithm][]psamKey

	mu       sync.Mutex // guards the fields below
	t0       t0
	env      card.Algorithm // selected environment, 0 at the MF
	df01     bool
	ef       byte // current transparent EF (0x15, 0x16), 0 none
	session  []byte
	sessAlg  card.Algorithm
	commands int
	termSeq  uint32    // file 0019: the last 终端交易序号 handed out
	purchase *purchase // 80 70 done, 80 72 not yet
}

var _ ICC = (*PSAM)(nil)

// NewPSAM builds a virtual PSAM.
func NewPSAM(o PSAMOptions) (*PSAM, error) {
	if o.ATR == "" {
		o.ATR = DefaultPSAMATR
	}
	if o.TerminalNo == "" {
		o.TerminalNo = "350100000001"
	}
	if o.Serial == "" {
		o.Serial = "35010000000000000001"
	}
	if o.Levels == 0 {
		o.Levels = 3
	}
	if o.Region == "" && len(o.TerminalNo) >= 6 {
		o.Region = o.TerminalNo[:6]
	}
	if len(o.Algorithms) == 0 {
		o.Algorithms = []card.Algorithm{card.AlgDES, card.AlgSM4}
	}
	p := &PSAM{o: o, keys: map[card.Algorithm][]psamKey{}}
	var err error
	if p.atr, err = hex.DecodeString(o.ATR); err != nil {
		return nil, fmt.Errorf("cardsim: PSAM ATR: %w", err)
	}
	if _, err := apdu.ParseATR(p.atr); err != nil {
		return nil, fmt.Errorf("cardsim: PSAM ATR: %w", err)
	}
	if p.f16, err = cnField(o.TerminalNo, 6); err != nil || len(o.TerminalNo) != 12 {
		return nil, fmt.Errorf("cardsim: PSAM terminal number %q is not 12 digits", o.TerminalNo)
	}
	serial, err := cnField(o.Serial, 10)
	if err != nil {
		return nil, fmt.Errorf("cardsim: PSAM serial: %w", err)
	}
	// 0015: issuer, serial (cn 10), version, key card type, 2 bytes of FCI data.
	p.f15 = append(append([]byte{0x01}, serial...), 0x01, 0x01, 0x00, 0x00)
	if o.Levels < 1 || o.Levels > 3 {
		return nil, fmt.Errorf("cardsim: PSAM levels %d, want 1-3", o.Levels)
	}
	for _, alg := range o.Algorithms {
		names := []string{KeyIRK}
		ids := []byte{0x08}
		if !o.NoRK {
			names, ids = append(names, KeyRK), append(ids, 0x0A)
		}
		for i, name := range names {
			root, err := rootAtLevel(name, alg, o.Region, o.Levels)
			if err != nil {
				return nil, fmt.Errorf("cardsim: PSAM key: %w", err)
			}
			p.keys[alg] = append(p.keys[alg], psamKey{typ: 7, id: ids[i], levels: o.Levels, root: root})
		}
		if !o.NoDPK {
			root, err := rootAtLevel(KeyDPK, alg, o.Region, o.Levels)
			if err != nil {
				return nil, fmt.Errorf("cardsim: PSAM key: %w", err)
			}
			p.keys[alg] = append(p.keys[alg], psamKey{typ: 2, id: 0x01, levels: o.Levels, root: root})
		}
	}
	p.t0.on = !offersT1(p.atr)
	return p, nil
}

// Commands counts the commands answered.
func (p *PSAM) Commands() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.commands
}

// Reset implements ICC.
func (p *PSAM) Reset() []byte {
	p.PowerOff()
	return bytes.Clone(p.atr)
}

// PowerOff implements ICC.
func (p *PSAM) PowerOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t0.pending = nil
	p.env, p.df01, p.ef, p.session = 0, false, 0, nil
	p.purchase = nil
}

// Process implements ICC.
func (p *PSAM) Process(raw []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		return sw(apdu.SWWrongLength), nil
	}
	p.commands++
	if cmd.CLA == 0x00 && cmd.INS == 0xC0 {
		return p.t0.getResponse(cmd), nil
	}
	p.t0.pending = nil
	switch {
	case cmd.CLA == 0x00 && cmd.INS == 0xA4:
		return p.selectFile(cmd), nil
	case cmd.CLA == 0x00 && cmd.INS == 0xB0:
		return p.readBinary(cmd), nil
	case cmd.CLA == 0x00 && cmd.INS == 0x84:
		if cmd.Ne != 4 && cmd.Ne != 8 && cmd.Ne != 16 {
			return sw(apdu.SWWrongLength), nil
		}
		r := make([]byte, cmd.Ne)
		_, _ = rand.Read(r)
		return append(r, 0x90, 0x00), nil
	case cmd.CLA == 0xBF && cmd.INS == 0xEC:
		if p.env == 0 {
			return sw(apdu.SWConditions), nil
		}
		if len(cmd.Data) != 1 {
			return sw(apdu.SWWrongLength), nil
		}
		return sw(apdu.SWOK), nil
	case cmd.CLA == 0xBF && cmd.INS == 0xDE:
		return p.deliverSessionKey(cmd), nil
	case cmd.CLA == 0x80 && cmd.INS == 0xFA:
		return p.cipherData(cmd), nil
	case cmd.CLA == 0x80 && cmd.INS == 0x70:
		return p.initForPurchase(cmd), nil
	case cmd.CLA == 0x80 && cmd.INS == 0x72:
		return p.creditForPurchase(cmd), nil
	case cmd.CLA != 0x00 && cmd.CLA != 0x80 && cmd.CLA != 0xBF:
		return sw(apdu.SWCLANotSupported), nil
	}
	return sw(apdu.SWINSNotSupported), nil
}

func (p *PSAM) selectFile(cmd apdu.Command) []byte {
	switch cmd.P1 {
	case 0x04:
		for _, alg := range p.o.Algorithms {
			if name, _ := psam.EnvFor(alg); len(cmd.Data) > 0 && bytes.HasPrefix(name, cmd.Data) {
				p.env, p.df01, p.ef, p.session = alg, false, 0, nil
				fci := append([]byte{0x6F, byte(2 + len(name)), 0x84, byte(len(name))}, name...)
				return p.t0.reply(cmd, fci)
			}
		}
		return sw(apdu.SWFileNotFound)
	case 0x00, 0x02:
		if len(cmd.Data) != 2 {
			return sw(apdu.SWWrongLength)
		}
		switch fid := uint16(cmd.Data[0])<<8 | uint16(cmd.Data[1]); {
		case fid == 0x3F00:
			p.env, p.df01, p.ef, p.session = 0, false, 0, nil
			return sw(apdu.SWOK)
		case fid == 0xDF01 && p.env != 0:
			p.df01, p.ef = true, 0
			fci := []byte{0x6F, 0x08, 0x84, 0x06, 0xD1, 0x56, 0x00, 0x00, 0x05, 0x90}
			return p.t0.reply(cmd, fci)
		case (fid == 0x0015 || fid == 0x0016) && !p.df01:
			p.ef = byte(fid)
			return sw(apdu.SWOK)
		}
		return sw(apdu.SWFileNotFound)
	}
	return sw(apdu.SWWrongP1P2)
}

func (p *PSAM) readBinary(cmd apdu.Command) []byte {
	ef, off := p.ef, int(cmd.P2)
	if cmd.P1&0x80 != 0 {
		ef = cmd.P1 & 0x1F
	} else {
		off |= int(cmd.P1&0x7F) << 8
	}
	var data []byte
	switch {
	case p.df01:
		return sw(apdu.SWFileNotFound)
	case ef == 0x15:
		data = p.f15
	case ef == 0x16:
		data = p.f16
	case ef == 0:
		return sw(apdu.SWNoCurrentEF)
	default:
		return sw(apdu.SWFileNotFound)
	}
	if cmd.P1&0x80 != 0 {
		p.ef = ef
	}
	if off > len(data) {
		return sw(apdu.SWWrongOffset)
	}
	data = data[off:]
	if cmd.Ne > len(data) && cmd.Ne != 256 {
		return sw(apdu.SW(0x6C00 | uint16(len(data))))
	}
	if cmd.Ne < len(data) {
		data = data[:cmd.Ne]
	}
	return append(bytes.Clone(data), 0x90, 0x00)
}

// deliverSessionKey is BF DE <usage> <key id> Lc <factors, lowest level first> <session
// factor>: it derives the card key from its root and the session key into the
// temporary register.
func (p *PSAM) deliverSessionKey(cmd apdu.Command) []byte {
	if p.env == 0 || !p.df01 {
		return sw(apdu.SWConditions)
	}
	levels, typ := int(cmd.P1>>5), cmd.P1&0x1F
	i := slices.IndexFunc(p.keys[p.env], func(k psamKey) bool { return k.typ == typ && k.id == cmd.P2 })
	if i < 0 {
		return sw(apdu.SWRefNotFound)
	}
	k := p.keys[p.env][i]
	if levels != k.levels {
		return sw(apdu.SWWrongData) // 分散级数不符
	}
	bs := p.env.BlockSize()
	if len(cmd.Data) != 8*levels+bs {
		return sw(apdu.SWWrongLength)
	}
	factors := make([][8]byte, levels)
	for j := range factors {
		copy(factors[j][:], cmd.Data[8*j:])
	}
	cardKey, err := psam.DeriveKey(p.env, k.root, factors...)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	sk, err := psam.SessionKey(p.env, cardKey, cmd.Data[8*levels:])
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	p.session, p.sessAlg = sk, p.env
	return sw(apdu.SWOK)
}

// cipherData is 80 FA 00|02 00 Lc <data>: ECB encryption under the session key.
func (p *PSAM) cipherData(cmd apdu.Command) []byte {
	if cmd.P1 != 0x00 && cmd.P1 != 0x02 {
		return sw(apdu.SWWrongP1P2) // MAC modes are not emulated
	}
	if p.session == nil || p.sessAlg != p.env {
		return sw(apdu.SWConditions)
	}
	out, err := psam.EncryptECB(p.sessAlg, p.session, cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongLength)
	}
	if cmd.P1 == 0x00 {
		p.session = nil // "encrypt last": the register is spent
	}
	return p.t0.reply(cmd, out)
}

package cardsim

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/psam"
)

// Key names of the medical purse's test roots.
const (
	KeyDPK = "DPK" // 医疗消费密钥 (PSAM usage type 2): SESPK, MAC1, MAC2
	KeyDTK = "DTK" // TAC key (PSAM usage type 12; held by the platform, not the PSAM)
)

// Medical is the "medical" block of a profile: DF04's purse. The zero value is PIN
// 123456 with 3 tries and 1000.00 yuan in the personal account.
type Medical struct {
	// PIN is the holder's PIN, 4-16 digits. Default "123456".
	PIN string `yaml:"pin"`
	// PINTries is the PIN try counter. Default 3.
	PINTries int `yaml:"pinTries"`
	// Balance is the personal account (个人账户) in yuan with two decimals. Default
	// "1000.00".
	Balance string `yaml:"balance"`
	// InsuredRegion is DF04/EF05 84 (参保地), 6 digits. Default the card's region.
	InsuredRegion string `yaml:"insuredRegion"`
}

const purseLogMax = 30 // EF08 keeps the 30 newest records

// purse is the card's DF04. Guarded by Card.mu.
type purse struct {
	dpk, dtk  []byte
	pin       []byte
	tries     int // PIN tries left (EEPROM)
	maxTries  int
	balance   uint32
	spip      uint32
	spfp      uint32
	seq       uint16
	log       [][]byte          // EF08, newest first
	proofs    map[uint16][]byte // 医疗消费交易序号 -> TAC || MAC2 (EEPROM)
	ef05      [][]byte
	debits    int
	pullAfter func(apdu.Command) bool

	// Volatile.
	selected bool
	pinOK    bool
	init     *card.Purchase // INITIALIZE FOR PURCHASE done, DEBIT not yet
}

func newPurse(p *Profile, r *records) (*purse, error) {
	m := p.Medical
	pu := &purse{pin: []byte(m.PIN), maxTries: m.PINTries, proofs: map[uint16][]byte{}}
	if len(pu.pin) == 0 {
		pu.pin = []byte("123456")
	}
	if pu.maxTries <= 0 {
		pu.maxTries = 3
	}
	pu.tries = pu.maxTries
	bal := m.Balance
	if bal == "" {
		bal = "1000.00"
	}
	fen, err := parseFen(bal)
	if err != nil {
		return nil, err
	}
	pu.balance = fen
	region := m.InsuredRegion
	if region == "" {
		region = p.Region()
	}
	reg, err := cnField(region, 3)
	if err != nil {
		return nil, err
	}
	pu.ef05 = [][]byte{append([]byte{card.TagInsuredRegion, 3}, reg...), {card.TagMedicalMode, 1, '2'}}
	if pu.dpk, err = CardKey(KeyDPK, r.alg, p.Region(), r.hist); err != nil {
		return nil, err
	}
	if pu.dtk, err = CardKey(KeyDTK, r.alg, p.Region(), r.hist); err != nil {
		return nil, err
	}
	return pu, nil
}

func parseFen(s string) (uint32, error) {
	var whole, frac uint64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadAmount(s)
		}
		whole = whole*10 + uint64(s[i]-'0')
	}
	if i != len(s)-3 || i == 0 {
		return 0, errBadAmount(s)
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return 0, errBadAmount(s)
		}
		frac = frac*10 + uint64(c-'0')
	}
	v := whole*100 + frac
	if v > 0xFFFFFFFF {
		return 0, errBadAmount(s)
	}
	return uint32(v), nil
}

type errBadAmount string

func (e errBadAmount) Error() string {
	return "medical.balance " + string(e) + " is not yuan with two decimals"
}

func (pu *purse) reset() { pu.selected, pu.pinOK, pu.init = false, false, nil }

// PullAfterDebit makes the card carry out the next command for which f returns true and
// then leave the reader without answering it (Process returns ErrPulled): a card pulled
// between DEBIT FOR PURCHASE and its answer. nil clears it.
func (c *Card) PullAfter(f func(apdu.Command) bool) {
	c.mu.Lock()
	c.pu.pullAfter = f
	c.mu.Unlock()
}

// IsDebit reports whether cmd is DEBIT FOR PURCHASE (for PullAfter).
func IsDebit(cmd apdu.Command) bool { return cmd.CLA == 0xB0 && cmd.INS == 0x2C }

// Balance is the personal account balance in fen.
func (c *Card) Balance() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pu.balance
}

// Debits counts the purchases the card carried out.
func (c *Card) Debits() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pu.debits
}

// PINTriesLeft is the PIN try counter.
func (c *Card) PINTriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pu.tries
}

// selectDF04 answers SELECT by name of DF04 within SSSE.
func (c *Card) selectDF04(cmd apdu.Command) []byte {
	c.pu.reset()
	c.pu.selected, c.ef = true, 0
	fci := append([]byte{0x6F, byte(2 + len(card.DF04AID)), 0x84, byte(len(card.DF04AID))}, card.DF04AID...)
	return c.t0.reply(cmd, fci)
}

func (c *Card) verifyPIN(cmd apdu.Command) []byte {
	pu := c.pu
	if !pu.selected {
		return sw(apdu.SWConditions)
	}
	if len(cmd.Data) == 0 {
		return sw(apdu.SW(0x63C0 | uint16(pu.tries)))
	}
	if pu.tries == 0 {
		return sw(apdu.SWAuthBlocked)
	}
	got := []byte(hex.EncodeToString(cmd.Data))
	got = bytes.TrimRight(got, "f")
	if !bytes.Equal(got, pu.pin) {
		pu.tries--
		pu.pinOK = false
		return sw(apdu.SW(0x63C0 | uint16(pu.tries)))
	}
	pu.tries, pu.pinOK = pu.maxTries, true
	return sw(apdu.SWOK)
}

func (c *Card) readPurseRecord(cmd apdu.Command) []byte {
	sfi, mode := cmd.P2>>3, cmd.P2&0x07
	var recs [][]byte
	switch sfi {
	case card.SFIMedicalInfo:
		recs = c.pu.ef05
	case card.SFIMedicalLog:
		if !c.pu.pinOK {
			return sw(apdu.SWSecurityStatus)
		}
		recs = c.pu.log
	default:
		return sw(apdu.SWFileNotFound)
	}
	return c.answerRecords(cmd, mode, recs, false, false)
}

// purseCommand answers the CLA B0 commands of DF04.
func (c *Card) purseCommand(cmd apdu.Command) []byte {
	pu := c.pu
	if !pu.selected {
		return sw(apdu.SWConditions)
	}
	switch cmd.INS {
	case 0x28:
		return c.initPurchase(cmd)
	case 0x2C:
		return c.debitPurchase(cmd)
	case 0x2E:
		if cmd.P1 != 0 || len(cmd.Data) != 2 {
			return sw(apdu.SWWrongP1P2)
		}
		proof, ok := pu.proofs[binary.BigEndian.Uint16(cmd.Data)]
		if !ok || cmd.P2 != card.PurchaseMedical {
			return sw(apdu.SWMACUnavailable)
		}
		return c.t0.reply(cmd, proof)
	case 0x26: // GET BALANCE
		if !pu.pinOK {
			return sw(apdu.SWSecurityStatus)
		}
		return c.t0.reply(cmd, binary.BigEndian.AppendUint32(nil, pu.balance))
	}
	return sw(apdu.SWINSNotSupported)
}

func (c *Card) initPurchase(cmd apdu.Command) []byte {
	pu := c.pu
	pu.init = nil
	if cmd.P1 != 0x01 || cmd.P2 != 0x01 {
		return sw(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) != 0x13 {
		return sw(apdu.SWWrongLength)
	}
	if !pu.pinOK {
		return sw(apdu.SWSecurityStatus)
	}
	if cmd.Data[0] != 0x01 {
		return sw(apdu.SWKeyIndexUnsupported)
	}
	p := &card.Purchase{Algorithm: c.r.alg, CardID: c.p.EF05.CardID, ATRHistorical: bytes.Clone(c.r.hist), Type: card.PurchaseMedical,
		TerminalNo: hex.EncodeToString(cmd.Data[13:19]), Balance: pu.balance, SPIP: pu.spip, SPFP: pu.spfp,
		Year: uint16(time.Now().Year()), CardSeq: pu.seq, KeyVersion: 0x01, AlgID: byte(c.r.alg)}
	p.Amounts = card.Amounts{Account: binary.BigEndian.Uint32(cmd.Data[1:]), Self: binary.BigEndian.Uint32(cmd.Data[5:]),
		Fund: binary.BigEndian.Uint32(cmd.Data[9:])}
	if p.Amounts.Account > pu.balance {
		return sw(apdu.SWInsufficientFunds)
	}
	_, _ = rand.Read(p.CardRandom[:])
	pu.init = p
	out := binary.BigEndian.AppendUint32(nil, p.Balance)
	out = binary.BigEndian.AppendUint32(out, p.SPIP)
	out = binary.BigEndian.AppendUint32(out, p.SPFP)
	out = binary.BigEndian.AppendUint16(out, p.Year)
	out = binary.BigEndian.AppendUint16(out, p.CardSeq)
	out = append(out, p.KeyVersion, p.AlgID)
	out = append(out, p.CardRandom[:]...)
	return c.t0.reply(cmd, out)
}

func (c *Card) debitPurchase(cmd apdu.Command) []byte {
	pu := c.pu
	p := pu.init
	pu.init = nil // one DEBIT per INITIALIZE, whatever its outcome
	if cmd.P1 != 0x01 || cmd.P2 != 0x00 {
		return sw(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) != 0x0F {
		return sw(apdu.SWWrongLength)
	}
	if p == nil {
		return sw(apdu.SWConditions)
	}
	termSeq := binary.BigEndian.Uint32(cmd.Data)
	tm, err := time.ParseInLocation("20060102150405", hex.EncodeToString(cmd.Data[4:11]), time.Local)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	p.Time = tm
	mac1, mac2, err := psam.PurchaseMACs(p.Algorithm, pu.dpk, p, termSeq)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	if !bytes.Equal(mac1[:], cmd.Data[11:15]) {
		return sw(apdu.SWMACInvalid)
	}
	tac, err := psam.PurchaseTAC(p.Algorithm, pu.dtk, p, termSeq)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	pu.balance -= p.Amounts.Account
	pu.spip += p.Amounts.Fund
	pu.spfp += p.Amounts.Self
	rec := binary.BigEndian.AppendUint16(nil, p.CardSeq)
	rec = append(rec, p.Type)
	rec = append(rec, p.TerminalBCD()...)
	rec = append(rec, p.TimeBCD()...)
	rec = append(rec, p.Amounts.Bytes()...)
	pu.log = append([][]byte{rec}, pu.log...)
	if len(pu.log) > purseLogMax {
		pu.log = pu.log[:purseLogMax]
	}
	proof := append(tac[:], mac2[:]...)
	pu.proofs[p.CardSeq] = proof
	pu.seq++
	pu.debits++
	return c.t0.reply(cmd, proof)
}

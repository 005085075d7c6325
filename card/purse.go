package card

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/drivers/apdu"
)

// The medical purse of DF04 (社会保险2, 脱网 settlement; reference/domain.md §4.1): the
// holder's PIN opens it, INITIALIZE FOR PURCHASE (B0 28) and DEBIT FOR PURCHASE (B0 2C)
// take one settlement from it with MAC1 from a PurchaseAuthority (the PSAM's 80 70, or
// the platform's HSM), and the card answers MAC2, which the authority checks, and the
// TAC, which the platform verifies at settlement. GET TRANSACTION PROOF (B0 2E) tells,
// after the card was pulled during DEBIT, whether the debit happened.

// DF04AID is the AID of DF04 (社会保险2, medical).
var DF04AID = []byte{0xD1, 0x56, 0x00, 0x00, 0x05, 0x03}

// PurchaseMedical is the 交易类型 of a medical settlement ('2' 医疗结算 in EF08; '1' is
// 划入).
const PurchaseMedical byte = '2'

// DF04 files.
const (
	SFIMedicalInfo = 0x05 // DF04/EF05 医保基本信息
	SFIMedicalLog  = 0x08 // DF04/EF08 医疗交易明细 (cyclic, 0x1C-byte records)
)

// DF04/EF05 record identifiers.
const (
	TagInsuredRegion = 0x84 // 医疗保险参保地行政区划代码, cn 3
	TagMedicalMode   = 0x8F // 医保用卡方式: '1' online, '2' offline
)

var df04ef05 = []record{{TagInsuredRegion, 3, true}, {TagMedicalMode, 1, false}}

// LogRecordSize is the size of one DF04/EF08 record.
const LogRecordSize = 0x1C

// Amounts are the three parts of a medical settlement in fen (分).
type Amounts struct {
	Account uint32 `json:"account"` // 个人账户支付
	Self    uint32 `json:"self"`    // 个人自付
	Fund    uint32 `json:"fund"`    // 统筹基金支付
}

// Bytes is the 12-byte form the card and the MACs carry: the three amounts, 4 bytes
// each, big-endian, in that order.
func (a Amounts) Bytes() []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b, a.Account)
	binary.BigEndian.PutUint32(b[4:], a.Self)
	binary.BigEndian.PutUint32(b[8:], a.Fund)
	return b
}

// Total is the sum of the three parts in fen.
func (a Amounts) Total() uint64 { return uint64(a.Account) + uint64(a.Self) + uint64(a.Fund) }

// Purchase is one purchase between INITIALIZE and DEBIT: what the terminal asked and
// what the card answered. The authorities compute MAC1 from it.
type Purchase struct {
	Algorithm     Algorithm
	CardID        string // 卡识别码
	ATRHistorical []byte
	Amounts       Amounts
	Type          byte      // 交易类型 (PurchaseMedical)
	TerminalNo    string    // 终端机编号, 12 digits
	Time          time.Time // 交易时间, local (Beijing) time of the terminal

	// From INITIALIZE FOR PURCHASE.
	Balance    uint32  // CIA余额: the personal account balance before the purchase
	SPIP, SPFP uint32  // the card's running totals (统筹, 自付)
	Year       uint16  // 支付年度
	CardSeq    uint16  // 医疗消费交易序号 of this purchase
	KeyVersion byte    // DPK version
	AlgID      byte    // algorithm id of the purchase key
	CardRandom [4]byte // 伪随机数
}

// Region is the 6-digit city code of the card (its key factors).
func (p *Purchase) Region() string { return p.CardID[:6] }

// TimeBCD is 交易时间 as 7 BCD bytes YYYYMMDDHHMMSS.
func (p *Purchase) TimeBCD() []byte {
	b, _ := hex.DecodeString(p.Time.Format("20060102150405"))
	return b
}

// TerminalBCD is 终端机编号 as 6 BCD bytes.
func (p *Purchase) TerminalBCD() []byte {
	b, err := hex.DecodeString(p.TerminalNo)
	if err != nil || len(b) != 6 {
		return make([]byte, 6)
	}
	return b
}

// MAC1Data is what MAC1 covers: the amounts, 交易类型, 终端机编号 and 交易时间.
func (p *Purchase) MAC1Data() []byte {
	out := append(p.Amounts.Bytes(), p.Type)
	out = append(out, p.TerminalBCD()...)
	return append(out, p.TimeBCD()...)
}

// TACData is what the TAC covers: the amounts, 交易类型, 终端机编号, 终端交易序号 and 交易时间.
func (p *Purchase) TACData(termSeq uint32) []byte {
	out := append(p.Amounts.Bytes(), p.Type)
	out = append(out, p.TerminalBCD()...)
	out = binary.BigEndian.AppendUint32(out, termSeq)
	return append(out, p.TimeBCD()...)
}

// PurchaseAuthority computes the terminal's half of a purchase: a PSAM (80 70 / 80 72)
// or the platform's HSM (psam.PlatformPurchase).
type PurchaseAuthority interface {
	// Name names the authority ("psam", "hsm").
	Name() string
	// PurchaseMAC1 returns the 终端交易序号 and MAC1 of an initialised purchase.
	PurchaseMAC1(ctx context.Context, p *Purchase) (termSeq uint32, mac1 [4]byte, err error)
	// CheckPurchase verifies the card's MAC2 (and, where the authority holds the key,
	// the TAC). A mismatch is an *Error with 9302.
	CheckPurchase(ctx context.Context, p *Purchase, termSeq uint32, mac2, tac [4]byte) error
}

// Proof is the card's answer to DEBIT FOR PURCHASE or GET TRANSACTION PROOF.
type Proof struct {
	TAC  [4]byte
	MAC2 [4]byte
}

// LogEntry is one DF04/EF08 record (医疗交易明细).
type LogEntry struct {
	Seq        uint16
	Type       byte
	TerminalNo string
	Time       string // YYYYMMDDHHMMSS
	Amounts    Amounts
}

// Purse is the DF04 application of a card, selected.
type Purse struct {
	s      *session
	basic  Basic
	Region string // DF04/EF05 84: the insured region (6 digits)
	Mode   string // DF04/EF05 8F: '1' online, '2' offline, "" unknown
}

// OpenPurse selects the SSSE application and DF04 of the card behind t and reads
// DF04/EF05. basic is the card as Read returned it (algorithm, 卡识别码, ATR); the card
// must be the same (its 卡识别码 is checked, -22 otherwise).
func OpenPurse(ctx context.Context, t apdu.Transmitter, atr []byte, basic Basic) (*Purse, error) {
	a, err := apdu.ParseATR(atr)
	if err != nil {
		return nil, &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: "answer to reset", Err: err}
	}
	s := &session{ch: apdu.NewChannel(t, apdu.ChannelOptions{}), t0: len(a.Protocols) > 0 && a.Protocols[0] == 0}
	if _, err := s.selectSSSE(ctx); err != nil {
		return nil, err
	}
	recs, err := s.readFile(ctx, SFIEF05, 0xEF05, ef05[:1])
	if err != nil {
		return nil, err
	}
	if err := s.decodeEF05(recs); err != nil {
		return nil, err
	}
	if s.basic.CardID != basic.CardID {
		return nil, &Error{Code: CodeMismatch, Op: "open DF04", Err: errors.New("another card is in the reader")}
	}
	p := &Purse{s: s, basic: basic}
	cmd := apdu.Command{INS: 0xA4, P1: 0x04, Data: DF04AID, Ne: s.caseNe(apdu.MaxShort)}
	if _, err := s.ch.Do(ctx, cmd); err != nil {
		return nil, AsError("select DF04", err)
	}
	if recs, err = s.readFile(ctx, SFIMedicalInfo, 0xEF05, df04ef05); err != nil {
		return nil, err
	}
	p.Region, p.Mode = cn(recs[TagInsuredRegion]), an(recs[TagMedicalMode])
	return p, nil
}

// VerifyPIN presents the holder's PIN (4-16 digits, BCD padded with F) to DF04. The
// command buffer is zeroed after the exchange. A wrong PIN is -51 with the prompt
// naming the tries left (PINTries); a blocked PIN is -52.
func (p *Purse) VerifyPIN(ctx context.Context, pin []byte) error {
	if len(pin) < 4 || len(pin) > 16 || !digits(string(pin)) {
		return &Error{Code: CodePINLength, Op: "verify PIN", Err: errors.New("the PIN must be 4-16 digits")}
	}
	data := make([]byte, (len(pin)+1)/2)
	for i := range data {
		hi, lo := pin[2*i]-'0', byte(0xF)
		if 2*i+1 < len(pin) {
			lo = pin[2*i+1] - '0'
		}
		data[i] = hi<<4 | lo
	}
	defer clear(data)
	r, err := p.s.ch.Send(ctx, apdu.Command{INS: 0x20, Data: data})
	if err != nil {
		return AsError("verify PIN", err)
	}
	switch {
	case r.SW == apdu.SWOK:
		return nil
	case r.SW == apdu.SWAuthBlocked || r.SW == 0x63C0:
		return &Error{Code: CodePINLocked, Op: "verify PIN", Err: errors.New("the PIN is blocked")}
	case r.SW&0xFFF0 == 0x63C0:
		n := int(r.SW & 0x0F)
		return &Error{Code: CodePINFailed, Prompt: PINTries(n), Op: "verify PIN", Err: fmt.Errorf("wrong PIN, %d tries left", n)}
	}
	return &Error{Code: SWCode(r.SW), Op: "verify PIN", Err: &apdu.StatusError{SW: r.SW, Command: "VERIFY"}}
}

// Initialize sends INITIALIZE FOR PURCHASE (B0 28 01 01 13, key index 01) and returns
// the purchase with the card's answer.
func (p *Purse) Initialize(ctx context.Context, a Amounts, terminalNo string, now time.Time) (*Purchase, error) {
	pur := &Purchase{Algorithm: p.basic.Algorithm, CardID: p.basic.CardID, ATRHistorical: bytes.Clone(p.basic.ATRHistorical),
		Amounts: a, Type: PurchaseMedical, TerminalNo: terminalNo, Time: now.Truncate(time.Second)}
	if len(terminalNo) != 12 || !digits(terminalNo) {
		return nil, &Error{Code: CodeInvalidInput, Op: "initialize for purchase", Err: fmt.Errorf("终端机编号 %q is not 12 digits", terminalNo)}
	}
	data := append([]byte{0x01}, a.Bytes()...)
	data = append(data, pur.TerminalBCD()...)
	ans, err := p.s.ch.Do(ctx, apdu.Command{CLA: 0xB0, INS: 0x28, P1: 0x01, P2: 0x01, Data: data, Ne: p.s.caseNe(0x16)})
	if err != nil {
		return nil, AsError("initialize for purchase", err)
	}
	if len(ans) != 0x16 {
		return nil, &Error{Code: CodeNoResponse, Op: "initialize for purchase", Err: fmt.Errorf("%d bytes, want 22", len(ans))}
	}
	pur.Balance = binary.BigEndian.Uint32(ans[0:])
	pur.SPIP = binary.BigEndian.Uint32(ans[4:])
	pur.SPFP = binary.BigEndian.Uint32(ans[8:])
	pur.Year = binary.BigEndian.Uint16(ans[12:])
	pur.CardSeq = binary.BigEndian.Uint16(ans[14:])
	pur.KeyVersion, pur.AlgID = ans[16], ans[17]
	copy(pur.CardRandom[:], ans[18:22])
	return pur, nil
}

// Debit sends DEBIT FOR PURCHASE (B0 2C 01 00 0F) and returns the card's TAC and MAC2.
// An error that is not a status word (the card was pulled, the reader failed) leaves
// the outcome unknown: GET TRANSACTION PROOF on the next insertion tells.
func (p *Purse) Debit(ctx context.Context, pur *Purchase, termSeq uint32, mac1 [4]byte) (Proof, error) {
	data := binary.BigEndian.AppendUint32(nil, termSeq)
	data = append(data, pur.TimeBCD()...)
	data = append(data, mac1[:]...)
	ans, err := p.s.ch.Do(ctx, apdu.Command{CLA: 0xB0, INS: 0x2C, P1: 0x01, Data: data, Ne: p.s.caseNe(8)})
	if err != nil {
		return Proof{}, AsError("debit for purchase", err)
	}
	return proofOf("debit for purchase", ans)
}

// TransactionProof sends GET TRANSACTION PROOF (B0 2E 00 <type> 02 <seq>): the TAC and
// MAC2 of the purchase with that 医疗消费交易序号, and found false when the card has
// none (9406: the debit did not happen).
func (p *Purse) TransactionProof(ctx context.Context, typ byte, seq uint16) (Proof, bool, error) {
	cmd := apdu.Command{CLA: 0xB0, INS: 0x2E, P2: typ, Data: []byte{byte(seq >> 8), byte(seq)}, Ne: p.s.caseNe(8)}
	r, err := p.s.ch.Send(ctx, cmd)
	if err != nil {
		return Proof{}, false, AsError("get transaction proof", err)
	}
	if r.SW == apdu.SWMACUnavailable {
		return Proof{}, false, nil
	}
	if r.SW != apdu.SWOK {
		return Proof{}, false, &Error{Code: SWCode(r.SW), Op: "get transaction proof", Err: r.Err(cmd)}
	}
	pr, err := proofOf("get transaction proof", r.Data)
	return pr, err == nil, err
}

func proofOf(op string, ans []byte) (Proof, error) {
	var pr Proof
	if len(ans) != 8 {
		return pr, &Error{Code: CodeNoResponse, Op: op, Err: fmt.Errorf("%d bytes, want 8", len(ans))}
	}
	copy(pr.TAC[:], ans[:4])
	copy(pr.MAC2[:], ans[4:])
	return pr, nil
}

// Log reads DF04/EF08, newest record first, until the card has no more.
func (p *Purse) Log(ctx context.Context) ([]LogEntry, error) {
	var out []LogEntry
	for n := 1; n <= 0xFE; n++ {
		cmd := apdu.Command{INS: 0xB2, P1: byte(n), P2: SFIMedicalLog<<3 | 0x04, Ne: LogRecordSize}
		r, err := p.s.ch.Send(ctx, cmd)
		if err != nil {
			return nil, AsError("read EF08", err)
		}
		if r.SW == apdu.SWRecordNotFound {
			return out, nil
		}
		if r.SW != apdu.SWOK {
			return nil, &Error{Code: SWCode(r.SW), Op: "read EF08", Err: r.Err(cmd)}
		}
		e, err := ParseLogRecord(r.Data)
		if err != nil {
			return nil, &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: "read EF08", Err: err}
		}
		out = append(out, e)
	}
	return out, nil
}

// ParseLogRecord decodes one DF04/EF08 record: 交易序号 b2, 交易类型 an1, 终端机编号
// cn6, 交易时间 cn7, the three amounts b4 each.
func ParseLogRecord(b []byte) (LogEntry, error) {
	if len(b) != LogRecordSize {
		return LogEntry{}, fmt.Errorf("EF08 record of %d bytes, want %d", len(b), LogRecordSize)
	}
	e := LogEntry{Seq: binary.BigEndian.Uint16(b), Type: b[2], TerminalNo: cn(b[3:9]), Time: cn(b[9:16])}
	if len(e.TerminalNo) != 12 || !digits(e.TerminalNo) || len(e.Time) != 14 || !digits(e.Time) {
		return LogEntry{}, fmt.Errorf("EF08 record with terminal %q and time %q", e.TerminalNo, e.Time)
	}
	e.Amounts = Amounts{Account: binary.BigEndian.Uint32(b[16:]), Self: binary.BigEndian.Uint32(b[20:]), Fund: binary.BigEndian.Uint32(b[24:])}
	return e, nil
}

// UnmarshalText reads the names MarshalText writes ("DES", "SSF33", "SM4") and the
// two-digit identifiers ("03").
func (a *Algorithm) UnmarshalText(b []byte) error {
	for _, c := range []Algorithm{AlgDES, AlgSSF33, AlgSM4} {
		if string(b) == c.Name() || string(b) == c.String() {
			*a = c
			return nil
		}
	}
	return fmt.Errorf("card: unknown algorithm %q", b)
}

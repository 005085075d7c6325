package psam

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/platform"
)

// The PSAM's half of a DF04 purchase (PSAM spec 9.9-9.10): INIT SAM FOR PURCHASE
// (80 70) derives the card's DPK and SESPK and returns the 终端交易序号 and MAC1; CREDIT
// SAM FOR PURCHASE (80 72) checks the card's MAC2 under the same session key.

var _ card.PurchaseAuthority = (*PSAM)(nil)

// PurchaseMAC1 implements card.PurchaseAuthority with 80 70 01 00 (1C+8N): card random
// 4 | card seq 2 | amounts 12 | 交易类型 1 | date 4 | time 3 | key version 1 | algorithm
// 1 | the card's factors, lowest level first. The levels are tried as configured.
func (p *PSAM) PurchaseMAC1(ctx context.Context, pur *card.Purchase) (uint32, [4]byte, error) {
	var mac1 [4]byte
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.selectEnv(ctx, pur.Algorithm); err != nil {
		return 0, mac1, err
	}
	head := append([]byte(nil), pur.CardRandom[:]...)
	head = append(head, byte(pur.CardSeq>>8), byte(pur.CardSeq))
	head = append(head, pur.Amounts.Bytes()...)
	head = append(head, pur.Type)
	head = append(head, pur.TimeBCD()...)
	head = append(head, pur.KeyVersion, pur.AlgID)
	lk := levelKey{pur.Algorithm, 2, 0}
	tries := p.o.Levels
	if n, ok := p.levels[lk]; ok {
		tries = append([]int{n}, without(tries, n)...)
	}
	var last apdu.SW
	for _, levels := range tries {
		factors, err := Factors(pur.Region(), pur.ATRHistorical, levels)
		if err != nil {
			return 0, mac1, &card.Error{Code: card.CodeCardIDFormat, Op: "psam init for purchase", Err: err}
		}
		data := append([]byte(nil), head...)
		for _, f := range factors {
			data = append(data, f[:]...)
		}
		cmd := apdu.Command{CLA: 0x80, INS: 0x70, P1: 0x01, Data: data, Ne: p.caseNe(8)}
		r, err := p.ch.Send(ctx, cmd)
		if err != nil {
			return 0, mac1, psamError("init for purchase", err)
		}
		if r.SW == apdu.SWWrongData || r.SW == apdu.SWRefNotFound {
			last = r.SW
			continue
		}
		if r.SW != apdu.SWOK {
			return 0, mac1, &card.Error{Code: card.SWCode(r.SW), Op: "psam init for purchase", Err: r.Err(cmd)}
		}
		if len(r.Data) != 8 {
			return 0, mac1, psamError("init for purchase", fmt.Errorf("%d bytes, want 8", len(r.Data)))
		}
		p.levels[lk] = levels
		copy(mac1[:], r.Data[4:])
		return binary.BigEndian.Uint32(r.Data), mac1, nil
	}
	return 0, mac1, &card.Error{Code: card.CodePSAMKeyLevel, Op: "psam init for purchase",
		Err: fmt.Errorf("no diversification level of %v fits the purchase key: %w", p.o.Levels, last)}
}

// CheckPurchase implements card.PurchaseAuthority with 80 72 00 00 04 MAC2. The PSAM
// holds no TAC key: the TAC is verified by the platform at settlement.
func (p *PSAM) CheckPurchase(ctx context.Context, _ *card.Purchase, _ uint32, mac2, _ [4]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := apdu.Command{CLA: 0x80, INS: 0x72, Data: mac2[:]}
	r, err := p.ch.Send(ctx, cmd)
	if err != nil {
		return psamError("credit for purchase", err)
	}
	if r.SW != apdu.SWOK {
		return &card.Error{Code: card.SWCode(r.SW), Op: "psam credit for purchase", Err: r.Err(cmd)}
	}
	return nil
}

// PlatformPurchase is the HSM variant of the terminal's half of a purchase: the
// platform's medicalPurchaseAuth computes MAC1 and medicalPurchaseVerify checks MAC2
// and the TAC (platform.Client).
type PlatformPurchase struct {
	Client interface {
		MedicalPurchaseAuth(ctx context.Context, r platform.MedicalPurchase) (platform.MedicalAuthResult, error)
		MedicalPurchaseVerify(ctx context.Context, r platform.MedicalPurchase, terminalSeq, mac2, tac string) (string, error)
	}
}

var _ card.PurchaseAuthority = PlatformPurchase{}

// Name implements card.PurchaseAuthority.
func (PlatformPurchase) Name() string { return "hsm" }

// MedicalPurchaseOf is the platform's view of a purchase.
func MedicalPurchaseOf(p *card.Purchase) platform.MedicalPurchase {
	return platform.MedicalPurchase{CardID: p.CardID, ATR: apdu.HexUpper(p.ATRHistorical), Algorithm: p.Algorithm.String(),
		CardRandom: apdu.HexUpper(p.CardRandom[:]), CardSeq: fmt.Sprintf("%04X", p.CardSeq), KeyVersion: fmt.Sprintf("%02X", p.KeyVersion),
		AccountPay: yuan(p.Amounts.Account), SelfPay: yuan(p.Amounts.Self), FundPay: yuan(p.Amounts.Fund),
		TransType: string(rune(p.Type)), TerminalNo: p.TerminalNo, TransTime: p.Time.Format("20060102150405")}
}

func yuan(fen uint32) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

// PurchaseMAC1 implements card.PurchaseAuthority.
func (h PlatformPurchase) PurchaseMAC1(ctx context.Context, p *card.Purchase) (uint32, [4]byte, error) {
	var mac1 [4]byte
	r, err := h.Client.MedicalPurchaseAuth(ctx, MedicalPurchaseOf(p))
	if err != nil {
		return 0, mac1, err
	}
	seq, err1 := hex.DecodeString(r.TerminalSeq)
	m, err2 := hex.DecodeString(r.MAC1)
	if err1 != nil || err2 != nil || len(seq) != 4 || len(m) != 4 {
		return 0, mac1, &card.Error{Code: card.CodeInvalidInput, Prompt: card.PromptHSMUnavailable, Op: "hsm purchase auth",
			Err: fmt.Errorf("terminalSeq %q, mac1 %q", r.TerminalSeq, r.MAC1)}
	}
	copy(mac1[:], m)
	return binary.BigEndian.Uint32(seq), mac1, nil
}

// CheckPurchase implements card.PurchaseAuthority.
func (h PlatformPurchase) CheckPurchase(ctx context.Context, p *card.Purchase, termSeq uint32, mac2, tac [4]byte) error {
	_, err := h.Client.MedicalPurchaseVerify(ctx, MedicalPurchaseOf(p), fmt.Sprintf("%08X", termSeq),
		strings.ToUpper(hex.EncodeToString(mac2[:])), strings.ToUpper(hex.EncodeToString(tac[:])))
	return err
}

// ParseMedicalPurchase is the HSM side of MedicalPurchaseOf (the sandbox platform): the
// purchase a platform request describes, or an error naming the first malformed field.
func ParseMedicalPurchase(r platform.MedicalPurchase) (*card.Purchase, error) {
	p := &card.Purchase{CardID: strings.ToUpper(r.CardID), TerminalNo: r.TerminalNo}
	if len(p.CardID) != 32 || !isDigits(p.CardID[:6]) {
		return nil, fmt.Errorf("psam: purchase cardId %q", r.CardID)
	}
	hist, err := hex.DecodeString(r.ATR)
	if err != nil || len(hist) == 0 || len(hist) > 15 {
		return nil, fmt.Errorf("psam: purchase atr %q", r.ATR)
	}
	p.ATRHistorical = hist
	switch r.Algorithm {
	case "01":
		p.Algorithm = card.AlgDES
	case "03":
		p.Algorithm = card.AlgSM4
	default:
		return nil, fmt.Errorf("psam: purchase algorithm %q", r.Algorithm)
	}
	rnd, err := hex.DecodeString(r.CardRandom)
	if err != nil || len(rnd) != 4 {
		return nil, fmt.Errorf("psam: purchase cardRandom %q", r.CardRandom)
	}
	copy(p.CardRandom[:], rnd)
	seq, err := hex.DecodeString(r.CardSeq)
	if err != nil || len(seq) != 2 {
		return nil, fmt.Errorf("psam: purchase cardSeq %q", r.CardSeq)
	}
	p.CardSeq = binary.BigEndian.Uint16(seq)
	if r.KeyVersion != "" {
		kv, err := hex.DecodeString(r.KeyVersion)
		if err != nil || len(kv) != 1 {
			return nil, fmt.Errorf("psam: purchase keyVersion %q", r.KeyVersion)
		}
		p.KeyVersion = kv[0]
	}
	for _, a := range []struct {
		name, v string
		dst     *uint32
	}{{"accountPay", r.AccountPay, &p.Amounts.Account}, {"selfPay", r.SelfPay, &p.Amounts.Self}, {"fundPay", r.FundPay, &p.Amounts.Fund}} {
		fen, err := parseYuan(a.v)
		if err != nil {
			return nil, fmt.Errorf("psam: purchase %s: %w", a.name, err)
		}
		*a.dst = fen
	}
	if len(r.TransType) != 1 || !isDigits(r.TransType) {
		return nil, fmt.Errorf("psam: purchase transType %q", r.TransType)
	}
	p.Type = r.TransType[0]
	if len(r.TerminalNo) != 12 || !isDigits(r.TerminalNo) {
		return nil, fmt.Errorf("psam: purchase terminalNo %q", r.TerminalNo)
	}
	if p.Time, err = time.ParseInLocation("20060102150405", r.TransTime, time.Local); err != nil || len(r.TransTime) != 14 {
		return nil, fmt.Errorf("psam: purchase transTime %q", r.TransTime)
	}
	return p, nil
}

// parseYuan reads yuan with exactly two decimals into fen (at most 4294967295).
func parseYuan(s string) (uint32, error) {
	whole, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 2 || whole == "" || len(whole) > 8 || !isDigits(whole) || !isDigits(frac) ||
		(len(whole) > 1 && whole[0] == '0') {
		return 0, fmt.Errorf("%q is not yuan with two decimals", s)
	}
	var v uint64
	for _, c := range whole + frac {
		v = v*10 + uint64(c-'0')
	}
	if v > 0xFFFFFFFF {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return uint32(v), nil
}

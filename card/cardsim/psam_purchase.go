package cardsim

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/psam"
)

// purchase is the PSAM's state between INIT SAM FOR PURCHASE and CREDIT SAM FOR
// PURCHASE: the expected MAC2.
type purchase struct{ mac2 [4]byte }

// initForPurchase is 80 70 01 00 (1C+8N): card random 4 | card seq 2 | amounts 12 |
// 交易类型 1 | date 4 | time 3 | key version 1 | algorithm 1 | N factors, lowest level
// first. It answers the next 终端交易序号 and MAC1.
func (p *PSAM) initForPurchase(cmd apdu.Command) []byte {
	p.purchase = nil
	if p.env == 0 || !p.df01 {
		return sw(apdu.SWConditions)
	}
	if cmd.P1 != 0x01 || cmd.P2 != 0x00 {
		return sw(apdu.SWWrongP1P2)
	}
	n := len(cmd.Data) - 0x1C
	if n < 8 || n%8 != 0 || n/8 > 3 {
		return sw(apdu.SWWrongLength)
	}
	i := slices.IndexFunc(p.keys[p.env], func(k psamKey) bool { return k.typ == 2 })
	if i < 0 {
		return sw(apdu.SWRefNotFound)
	}
	k := p.keys[p.env][i]
	levels := n / 8
	if levels != k.levels {
		return sw(apdu.SWWrongData) // 分散级数不符
	}
	d := cmd.Data
	pur := &card.Purchase{Algorithm: p.env, Type: d[18], TerminalNo: hex.EncodeToString(p.f16)}
	copy(pur.CardRandom[:], d[0:4])
	pur.CardSeq = binary.BigEndian.Uint16(d[4:6])
	pur.Amounts = card.Amounts{Account: binary.BigEndian.Uint32(d[6:]), Self: binary.BigEndian.Uint32(d[10:]), Fund: binary.BigEndian.Uint32(d[14:])}
	tm, err := time.ParseInLocation("20060102150405", hex.EncodeToString(d[19:26]), time.Local)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	pur.Time = tm
	factors := make([][8]byte, levels)
	for j := range factors {
		copy(factors[j][:], d[0x1C+8*j:])
	}
	dpk, err := psam.DeriveKey(p.env, k.root, factors...)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	p.termSeq++
	mac1, mac2, err := psam.PurchaseMACs(p.env, dpk, pur, p.termSeq)
	if err != nil {
		return sw(apdu.SWNoDiagnosis)
	}
	p.purchase = &purchase{mac2: mac2}
	out := binary.BigEndian.AppendUint32(nil, p.termSeq)
	return p.t0.reply(cmd, append(out, mac1[:]...))
}

// creditForPurchase is 80 72 00 00 04 MAC2: 9000 when it is the card's, 9302 otherwise.
func (p *PSAM) creditForPurchase(cmd apdu.Command) []byte {
	pur := p.purchase
	p.purchase = nil
	switch {
	case pur == nil:
		return sw(apdu.SWConditions)
	case len(cmd.Data) != 4:
		return sw(apdu.SWWrongLength)
	case !bytes.Equal(cmd.Data, pur.mac2[:]):
		return sw(apdu.SWMACInvalid)
	}
	return sw(apdu.SWOK)
}

package psam

import (
	"github.com/sscagent/sscagent/card"
)

// The medical purse algorithms (DF04 脱网 settlement, reference/domain.md §4.1): what
// the card, the PSAM and the platform's HSM compute for one purchase. Like the rest of
// this file's neighbours they are exported for the sandbox's virtual card, PSAM and HSM;
// the agent never holds a card key. The conventions the published text leaves open are
// fixed here and documented in docs/card.md ("Medical purse"):
//
//   - SESPK = SessionKey(DPK, 伪随机数 4 ‖ 医疗消费交易序号 2 ‖ last 2 bytes of 终端交易序号)
//   - MAC1  = MAC(SESPK, amounts 12 ‖ 交易类型 1 ‖ 终端机编号 6 ‖ 交易时间 7)
//   - MAC2  = MAC(SESPK, amounts 12)
//   - TAC   = MAC(TAC key, amounts 12 ‖ 交易类型 1 ‖ 终端机编号 6 ‖ 终端交易序号 4 ‖ 交易时间 7),
//     where the TAC key is the card's DTK itself for SM4 and, for DES, its left half
//     XOR its right half (single DES, as the PBOC purse does).
//
// The medical MACs carry no APDU header (security spec 8.2.4).

// MAC computes a 4-byte MAC of data (security spec 8.2): CBC with a zero IV over the
// data padded ISO/IEC 9797-1 method 2 (80 00...). With an 8-byte block (DES: an 8-byte
// key is single DES, 16 bytes 3DES) the MAC is the left 4 bytes of the last block; with
// a 16-byte block (SM4) it is the XOR of the last block's four 4-byte pieces.
func MAC(alg card.Algorithm, key, data []byte) ([4]byte, error) {
	var out [4]byte
	b, err := Block(alg, key)
	if err != nil {
		return out, err
	}
	bs := b.BlockSize()
	in := append(append([]byte(nil), data...), 0x80)
	for len(in)%bs != 0 {
		in = append(in, 0)
	}
	chain := make([]byte, bs)
	for i := 0; i < len(in); i += bs {
		for j := range bs {
			chain[j] ^= in[i+j]
		}
		b.Encrypt(chain, chain)
	}
	copy(out[:], chain)
	for i := 4; i < bs; i += 4 {
		for j := range 4 {
			out[j] ^= chain[i+j]
		}
	}
	return out, nil
}

// PurchaseSessionKey derives SESPK from the card's DPK: the session factor is the
// card's 伪随机数, its 医疗消费交易序号 and the last two bytes of the 终端交易序号.
func PurchaseSessionKey(alg card.Algorithm, dpk []byte, p *card.Purchase, termSeq uint32) ([]byte, error) {
	f := make([]byte, 0, 8)
	f = append(f, p.CardRandom[:]...)
	f = append(f, byte(p.CardSeq>>8), byte(p.CardSeq))
	f = append(f, byte(termSeq>>8), byte(termSeq))
	return SessionKey(alg, dpk, f)
}

// PurchaseMACs computes MAC1 and MAC2 of a purchase under the card's DPK.
func PurchaseMACs(alg card.Algorithm, dpk []byte, p *card.Purchase, termSeq uint32) (mac1, mac2 [4]byte, err error) {
	sk, err := PurchaseSessionKey(alg, dpk, p, termSeq)
	if err != nil {
		return mac1, mac2, err
	}
	if mac1, err = MAC(alg, sk, p.MAC1Data()); err != nil {
		return mac1, mac2, err
	}
	mac2, err = MAC(alg, sk, p.Amounts.Bytes())
	return mac1, mac2, err
}

// PurchaseTAC computes the TAC of a purchase under the card's DTK.
func PurchaseTAC(alg card.Algorithm, dtk []byte, p *card.Purchase, termSeq uint32) ([4]byte, error) {
	key := dtk
	if alg == card.AlgDES && len(dtk) == 16 {
		key = make([]byte, 8)
		for i := range 8 {
			key[i] = dtk[i] ^ dtk[8+i]
		}
	}
	return MAC(alg, key, p.TACData(termSeq))
}

package card_test

import (
	"bytes"
	"context"
	"crypto/des"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
)

// The medical purse's key derivation and MACs, written again from the conventions of
// docs/card.md ("Medical purse") with the block ciphers alone, so that the virtual card,
// PSAM and HSM are checked against an independent implementation.

func ecb(t *testing.T, alg card.Algorithm, key, in []byte) []byte {
	t.Helper()
	var enc func(dst, src []byte)
	bs := 8
	switch {
	case alg == card.AlgSM4:
		c, err := sm4.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		enc, bs = c.Encrypt, 16
	case len(key) == 8:
		c, err := des.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		enc = c.Encrypt
	default:
		c, err := des.NewTripleDESCipher(append(append([]byte{}, key...), key[:8]...))
		if err != nil {
			t.Fatal(err)
		}
		enc = c.Encrypt
	}
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += bs {
		enc(out[i:i+bs], in[i:i+bs])
	}
	return out
}

// refCardKey is root(name) diversified by the province, city and card factors.
func refCardKey(t *testing.T, name string, alg card.Algorithm, region string, hist []byte) []byte {
	h := sm3.Sum([]byte("sscagent test root key|" + name + "|" + alg.Name()))
	k := h[:16]
	for _, f := range []string{region[:2] + "0000sh", region + "sx", string(hist[5:13])} {
		in := []byte(f)
		for _, c := range []byte(f) {
			in = append(in, ^c)
		}
		k = ecb(t, alg, k, in)
	}
	return k
}

func refMAC(t *testing.T, alg card.Algorithm, key, data []byte) []byte {
	bs := alg.BlockSize()
	in := append(append([]byte{}, data...), 0x80)
	for len(in)%bs != 0 {
		in = append(in, 0)
	}
	chain := make([]byte, bs)
	for i := 0; i < len(in); i += bs {
		for j := range bs {
			chain[j] ^= in[i+j]
		}
		chain = ecb(t, alg, key, chain)
	}
	out := append([]byte{}, chain[:4]...)
	for i := 4; i < bs; i += 4 {
		for j := range 4 {
			out[j] ^= chain[i+j]
		}
	}
	return out
}

// refPurchase computes MAC1, MAC2 and TAC of a purchase.
func refPurchase(t *testing.T, p *card.Purchase, termSeq uint32) (mac1, mac2, tac []byte) {
	dpk := refCardKey(t, "DPK", p.Algorithm, p.CardID[:6], p.ATRHistorical)
	dtk := refCardKey(t, "DTK", p.Algorithm, p.CardID[:6], p.ATRHistorical)
	factor := make([]byte, p.Algorithm.BlockSize())
	copy(factor, p.CardRandom[:])
	binary.BigEndian.PutUint16(factor[4:], p.CardSeq)
	binary.BigEndian.PutUint16(factor[6:], uint16(termSeq))
	sk := ecb(t, p.Algorithm, dpk, factor)
	if p.Algorithm == card.AlgDES {
		sk = sk[:8]
	}
	amounts := make([]byte, 12)
	binary.BigEndian.PutUint32(amounts, p.Amounts.Account)
	binary.BigEndian.PutUint32(amounts[4:], p.Amounts.Self)
	binary.BigEndian.PutUint32(amounts[8:], p.Amounts.Fund)
	term, _ := hex.DecodeString(p.TerminalNo)
	tm, _ := hex.DecodeString(p.Time.Format("20060102150405"))
	m1 := append(append(append(append([]byte{}, amounts...), p.Type), term...), tm...)
	tacKey := dtk
	if p.Algorithm == card.AlgDES {
		tacKey = make([]byte, 8)
		for i := range 8 {
			tacKey[i] = dtk[i] ^ dtk[8+i]
		}
	}
	td := append(append(append(append([]byte{}, amounts...), p.Type), term...), binary.BigEndian.AppendUint32(nil, termSeq)...)
	td = append(td, tm...)
	return refMAC(t, p.Algorithm, sk, m1), refMAC(t, p.Algorithm, sk, amounts), refMAC(t, p.Algorithm, tacKey, td)
}

// openPurse reads the card (PSAM authentication) and opens its DF04 on a second
// connection, as the agent does.
func (b *bench) openPurse() *card.Purse {
	b.t.Helper()
	res, err := b.read(card.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	c, err := b.sys.Connect(context.Background(), "Holder 00 00", false)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close(true) })
	p, err := card.OpenPurse(context.Background(), c, c.ATR(), res.Basic)
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

var amounts = card.Amounts{Account: 3650, Self: 1200, Fund: 8800}

func TestPurchasePSAM(t *testing.T) {
	for _, name := range []string{"zhangsan", "lisi"} { // SM4, DES
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := newBench(t, &cardsim.PSAMOptions{TerminalNo: "350100000001"})
			sim := b.insert(name)
			before := sim.Balance()
			p := b.openPurse()
			if p.Region != "350100" || p.Mode != "2" {
				t.Fatalf("DF04/EF05: region %q mode %q", p.Region, p.Mode)
			}
			if err := p.VerifyPIN(ctx, []byte("123456")); err != nil {
				t.Fatal(err)
			}
			pur, err := p.Initialize(ctx, amounts, b.psam.Info().TerminalNo, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if pur.Balance != before || pur.CardSeq != 0 {
				t.Fatalf("initialize: balance %d seq %d", pur.Balance, pur.CardSeq)
			}
			termSeq, mac1, err := b.psam.PurchaseMAC1(ctx, pur)
			if err != nil {
				t.Fatal(err)
			}
			want1, want2, wantTAC := refPurchase(t, pur, termSeq)
			if !bytes.Equal(mac1[:], want1) {
				t.Fatalf("PSAM MAC1 %X, independent %X", mac1, want1)
			}
			proof, err := p.Debit(ctx, pur, termSeq, mac1)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(proof.MAC2[:], want2) || !bytes.Equal(proof.TAC[:], wantTAC) {
				t.Fatalf("card MAC2 %X TAC %X, independent %X %X", proof.MAC2, proof.TAC, want2, wantTAC)
			}
			if err := b.psam.CheckPurchase(ctx, pur, termSeq, proof.MAC2, proof.TAC); err != nil {
				t.Fatalf("PSAM refused the card's MAC2: %v", err)
			}
			if got := sim.Balance(); got != before-amounts.Account {
				t.Fatalf("balance %d, want %d", got, before-amounts.Account)
			}
			log, err := p.Log(ctx)
			if err != nil || len(log) != 1 || log[0].Amounts != amounts || log[0].TerminalNo != "350100000001" || log[0].Seq != 0 {
				t.Fatalf("EF08 %+v %v", log, err)
			}
			// A debit with a wrong MAC1 is refused and debits nothing.
			pur2, err := p.Initialize(ctx, amounts, b.psam.Info().TerminalNo, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			mac1[0] ^= 1
			if _, err := p.Debit(ctx, pur2, termSeq, mac1); card.CodeOf(err) != -0x9302 {
				t.Fatalf("wrong MAC1: %v", err)
			}
			if sim.Debits() != 1 {
				t.Fatalf("%d debits", sim.Debits())
			}
		})
	}
}

func TestPurchaseWrongPIN(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, &cardsim.PSAMOptions{})
	sim := b.insert("zhangsan")
	p := b.openPurse()
	err := p.VerifyPIN(ctx, []byte("654321"))
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodePINFailed || ce.PromptCode() != card.PINTries(2) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if h := ce.Message().Render(0, 0); h != "密码错误，还可输入2次" {
		t.Fatalf("holder text %q", h)
	}
	if _, err := p.Initialize(ctx, amounts, "350100000001", time.Now()); card.CodeOf(err) != -0x6982 {
		t.Fatalf("initialize without the PIN: %v", err)
	}
	for range 2 {
		_ = p.VerifyPIN(ctx, []byte("000000"))
	}
	if err := p.VerifyPIN(ctx, []byte("123456")); card.CodeOf(err) != card.CodePINLocked {
		t.Fatalf("after 3 wrong PINs: %v", err)
	}
	if err := p.VerifyPIN(ctx, []byte("12a4")); card.CodeOf(err) != card.CodePINLength {
		t.Fatalf("letters in the PIN: %v", err)
	}
	if sim.PINTriesLeft() != 0 || sim.Debits() != 0 {
		t.Fatalf("tries %d debits %d", sim.PINTriesLeft(), sim.Debits())
	}
}

// The card is pulled after it carried out DEBIT and before it answered: GET
// TRANSACTION PROOF on the next insertion gives the TAC, and the log has one debit.
func TestPurchasePulledAfterDebit(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, &cardsim.PSAMOptions{})
	sim := b.insert("zhangsan")
	p := b.openPurse()
	if err := p.VerifyPIN(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	pur, err := p.Initialize(ctx, amounts, b.psam.Info().TerminalNo, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	termSeq, mac1, err := b.psam.PurchaseMAC1(ctx, pur)
	if err != nil {
		t.Fatal(err)
	}
	sim.PullAfter(cardsim.IsDebit)
	if _, err := p.Debit(ctx, pur, termSeq, mac1); !errors.Is(err, drivers.ErrCardRemoved) {
		t.Fatalf("debit of a pulled card: %v", err)
	}
	if err := b.hub.Insert("Holder 00 00", sim); err != nil {
		t.Fatal(err)
	}
	p = b.openPurse()
	proof, found, err := p.TransactionProof(ctx, pur.Type, pur.CardSeq)
	if err != nil || !found {
		t.Fatalf("proof: %v %v", found, err)
	}
	_, want2, wantTAC := refPurchase(t, pur, termSeq)
	if !bytes.Equal(proof.TAC[:], wantTAC) || !bytes.Equal(proof.MAC2[:], want2) {
		t.Fatalf("proof TAC %X MAC2 %X, independent %X %X", proof.TAC, proof.MAC2, wantTAC, want2)
	}
	if _, found, err := p.TransactionProof(ctx, pur.Type, pur.CardSeq+1); found || err != nil {
		t.Fatalf("proof of a purchase that never happened: %v %v", found, err)
	}
	if err := p.VerifyPIN(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	if log, err := p.Log(ctx); err != nil || len(log) != 1 || sim.Debits() != 1 {
		t.Fatalf("EF08 %+v %v, %d debits", log, err, sim.Debits())
	}
}

// hsmClient is the platform's HSM in process: cardsim's HSM behind the platform
// client's two calls, with the sandbox's sequence.
type hsmClient struct{ seq uint32 }

func (h *hsmClient) MedicalPurchaseAuth(_ context.Context, r platform.MedicalPurchase) (platform.MedicalAuthResult, error) {
	h.seq++
	mac1, _, _, err := cardsim.HSM{}.PurchaseMACs(r, h.seq)
	return platform.MedicalAuthResult{TerminalSeq: fmt.Sprintf("%08X", h.seq), MAC1: fmt.Sprintf("%X", mac1)}, err
}

func (h *hsmClient) MedicalPurchaseVerify(_ context.Context, r platform.MedicalPurchase, seq, mac2, tac string) (string, error) {
	var n uint32
	fmt.Sscanf(seq, "%X", &n)
	_, m2, tc, err := cardsim.HSM{}.PurchaseMACs(r, n)
	if err != nil || fmt.Sprintf("%X", m2) != mac2 || fmt.Sprintf("%X", tc) != tac {
		return "", fmt.Errorf("MAC2/TAC mismatch (%v)", err)
	}
	return "", nil
}

func TestPurchaseHSM(t *testing.T) {
	ctx := context.Background()
	b := newBench(t, &cardsim.PSAMOptions{})
	b.insert("zhaoliu")
	p := b.openPurse()
	if err := p.VerifyPIN(ctx, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	pur, err := p.Initialize(ctx, amounts, "000000000000", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	auth := psam.PlatformPurchase{Client: &hsmClient{seq: 41}}
	termSeq, mac1, err := auth.PurchaseMAC1(ctx, pur)
	if err != nil || termSeq != 42 {
		t.Fatal(termSeq, err)
	}
	proof, err := p.Debit(ctx, pur, termSeq, mac1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, wantTAC := refPurchase(t, pur, termSeq)
	if !bytes.Equal(proof.TAC[:], wantTAC) {
		t.Fatalf("TAC %X, independent %X", proof.TAC, wantTAC)
	}
	if err := auth.CheckPurchase(ctx, pur, termSeq, proof.MAC2, proof.TAC); err != nil {
		t.Fatal(err)
	}
	proof.TAC[3] ^= 1
	if err := auth.CheckPurchase(ctx, pur, termSeq, proof.MAC2, proof.TAC); err == nil {
		t.Fatal("a wrong TAC verified")
	}
}

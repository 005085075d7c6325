package psam_test

import (
	"testing"

	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
)

// FuzzParseMedicalPurchase: any request gives a purchase or an error, never a panic;
// an accepted one goes back to the same request.
func FuzzParseMedicalPurchase(f *testing.F) {
	f.Add("350100D156000005300000015A3C9E11", "00544553545353350130000001", "03", "0A0B0C0D", "0001", "01",
		"36.50", "12.00", "0.00", "2", "350100000001", "20260105102030")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, id, atr, alg, rnd, seq, kv, acc, self, fund, typ, term, tm string) {
		r := platform.MedicalPurchase{CardID: id, ATR: atr, Algorithm: alg, CardRandom: rnd, CardSeq: seq, KeyVersion: kv,
			AccountPay: acc, SelfPay: self, FundPay: fund, TransType: typ, TerminalNo: term, TransTime: tm}
		p, err := psam.ParseMedicalPurchase(r)
		if err != nil {
			return
		}
		back := psam.MedicalPurchaseOf(p)
		if back.AccountPay != acc || back.FundPay != fund || back.TerminalNo != term || back.TransTime != tm || back.TransType != typ {
			t.Fatalf("%+v came back as %+v", r, back)
		}
	})
}

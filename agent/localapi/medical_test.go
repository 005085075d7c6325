package localapi

import (
	"context"
	"testing"
)

// fakeMedical records the settlements that passed the door.
type fakeMedical struct{ got []MedicalSettleRequest }

func (f *fakeMedical) SettleMedical(_ context.Context, r MedicalSettleRequest) (MedicalSettleResult, error) {
	f.got = append(f.got, MedicalSettleRequest{SettlementType: r.SettlementType, AccountPay: r.AccountPay})
	return MedicalSettleResult{State: "debited"}, nil
}

// TestMedicalSettleDoor: amounts, PIN, settlement id and 支付结算类型 are checked before
// the card is touched: a type the record would refuse after the debit (not in table
// C.10, or 08 退费/退款) is 422 and nothing reaches the card.
func TestMedicalSettleDoor(t *testing.T) {
	f := &fakeMedical{}
	_, base := start(t, Options{Medical: f})
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"accountPay":100,"pin":"123456"}`, 200},
		{`{"accountPay":100,"pin":"123456","settlementType":"04"}`, 200},
		{`{"accountPay":100,"pin":"123456","settlementType":"住院结算"}`, 200},
		{`{"accountPay":100,"pin":"123456","settlementType":"08"}`, 422},
		{`{"accountPay":100,"pin":"123456","settlementType":"退费/退款"}`, 422},
		{`{"accountPay":100,"pin":"123456","settlementType":"09"}`, 422},
		{`{"accountPay":100,"pin":"123456","settlementType":"门诊"}`, 422},
		{`{"accountPay":0,"pin":"123456"}`, 422},
		{`{"accountPay":-1,"pin":"123456"}`, 422},
		{`{"accountPay":100,"pin":"12"}`, 422},
		{`{"accountPay":100,"pin":"123456","settlementId":"a b"}`, 422},
	} {
		if code, out := do(t, "POST", base+"/v1/medical/settle", token, tc.body); code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.body, code, out, tc.want)
		}
	}
	if len(f.got) != 3 || f.got[1].SettlementType != "04" {
		t.Errorf("settlements that reached the card: %+v", f.got)
	}
}

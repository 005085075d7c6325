package platform_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/sscagent/sscagent/platform"
)

// PurchaseMACs makes the test HSM a platformsim.MedicalHSM: MAC1 is the sequence, MAC2
// and TAC fixed, and it refuses a purchase whose amounts did not arrive as sent.
func (f hsmFunc) PurchaseMACs(r platform.MedicalPurchase, seq uint32) (mac1, mac2, tac [4]byte, err error) {
	if r.AccountPay != medPurchase.AccountPay || r.FundPay != medPurchase.FundPay || r.TransTime != medPurchase.TransTime {
		return mac1, mac2, tac, fmt.Errorf("purchase arrived as %+v", r)
	}
	binary.BigEndian.PutUint32(mac1[:], seq)
	return mac1, [4]byte{0xAA, 0xBB, 0xCC, 0xDD}, [4]byte{0x11, 0x22, 0x33, 0x44}, nil
}

var medPurchase = platform.MedicalPurchase{CardID: zhangsanCard.CardID, ATR: "00544553545353350130000001", Algorithm: "03",
	CardRandom: "0A0B0C0D", CardSeq: "0001", KeyVersion: "01", AccountPay: "36.50", SelfPay: "12.00", FundPay: "0.00",
	TransType: "2", TerminalNo: "350100000001", TransTime: "20260105102030"}

// runMedical runs the two medical operations (runEveryOperation's part for them).
func runMedical(t *testing.T, c *platform.Client) {
	ctx := context.Background()
	r, err := c.MedicalPurchaseAuth(ctx, medPurchase)
	if err != nil || len(r.TerminalSeq) != 8 || r.MAC1 != r.TerminalSeq {
		t.Fatalf("medicalPurchaseAuth %+v %v", r, err)
	}
	if _, err := c.MedicalPurchaseVerify(ctx, medPurchase, r.TerminalSeq, "AABBCCDD", "11223344"); err != nil {
		t.Fatalf("medicalPurchaseVerify: %v", err)
	}
	_, err = c.MedicalPurchaseVerify(ctx, medPurchase, r.TerminalSeq, "AABBCCDD", "11223345")
	if pe, ok := err.(*platform.Error); !ok || pe.MsgCode != "100010" || platform.ClassOf(err) != platform.ClassRejected {
		t.Fatalf("wrong TAC: %v", err)
	}
	bad := medPurchase
	bad.CardSeq = "1"
	if _, err := c.MedicalPurchaseAuth(ctx, bad); platform.ClassOf(err) != platform.ClassRejected {
		t.Fatalf("malformed purchase: %v", err)
	}
}

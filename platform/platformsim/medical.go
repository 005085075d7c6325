package platformsim

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

// MedicalHSM computes the platform's half of a DF04 medical purchase (the HSM variant
// of 7.2.5 c): for a purchase and the 终端交易序号 the sandbox hands out, MAC1 and the
// MAC2 and TAC a genuine card answers. An Options.HSM that also implements MedicalHSM
// answers medicalPurchaseAuth and medicalPurchaseVerify; otherwise they are refused
// (100008). The card path's sandbox HSM (card/cardsim) implements both.
type MedicalHSM interface {
	PurchaseMACs(r platform.MedicalPurchase, termSeq uint32) (mac1, mac2, tac [4]byte, err error)
}

// medicalState is the sandbox's memory of medical purchases. Guarded by Server.mu.
type medicalState struct {
	termSeq  uint32          // the last 终端交易序号 handed out
	verified map[string]bool // cardId/cardSeq/terminalSeq of the purchases verified
}

func purchaseOf(d protocol.Data) platform.MedicalPurchase {
	return platform.MedicalPurchase{CardID: d.Get("cardId"), ATR: d.Get("atr"), Algorithm: d.Get("algorithm"),
		CardRandom: d.Get("cardRandom"), CardSeq: d.Get("cardSeq"), KeyVersion: d.Get("keyVersion"),
		AccountPay: d.Get("accountPay"), SelfPay: d.Get("selfPay"), FundPay: d.Get("fundPay"),
		TransType: d.Get("transType"), TerminalNo: d.Get("terminalNo"), TransTime: d.Get("transTime")}
}

// medicalCard checks the purchase's card against the registry.
func (st *state) medicalCard(hsm CardHSM, d protocol.Data) (MedicalHSM, string) {
	m, ok := hsm.(MedicalHSM)
	if !ok {
		return nil, protocol.CodeHSMNotSupported
	}
	card, _ := st.reg.cardByID(d.Get("cardId"))
	if card == nil {
		return nil, protocol.CodeCardUnknown
	}
	switch card.Status {
	case "lost":
		return nil, protocol.CodeCardLost
	case "frozen", "cancelled":
		return nil, protocol.CodeCardAbnormal
	}
	return m, ""
}

// medicalAuth answers medicalPurchaseAuth: a new 终端交易序号 and its MAC1.
func (st *state) medicalAuth(hsm CardHSM, d protocol.Data) (protocol.Data, string, string) {
	m, code := st.medicalCard(hsm, d)
	if code != "" {
		return fail(code)
	}
	st.med.termSeq++
	mac1, _, _, err := m.PurchaseMACs(purchaseOf(d), st.med.termSeq)
	if err != nil {
		return fail(protocol.CodeHSMBadStep1)
	}
	var r protocol.Data
	r.Set("terminalSeq", fmt.Sprintf("%08X", st.med.termSeq))
	r.Set("mac1", strings.ToUpper(hex.EncodeToString(mac1[:])))
	return r, protocol.CodeOK, ""
}

// medicalVerify answers medicalPurchaseVerify: Y when MAC2 and the TAC are the card's.
func (st *state) medicalVerify(hsm CardHSM, d protocol.Data) (protocol.Data, string, string) {
	m, code := st.medicalCard(hsm, d)
	if code != "" {
		return fail(code)
	}
	seq, err := strconv.ParseUint(d.Get("terminalSeq"), 16, 32)
	if err != nil {
		return fail(protocol.CodeBadRequest)
	}
	_, mac2, tac, err := m.PurchaseMACs(purchaseOf(d), uint32(seq))
	if err != nil {
		return fail(protocol.CodeHSMBadStep1)
	}
	got2, err2 := hex.DecodeString(d.Get("mac2"))
	gotT, errT := hex.DecodeString(d.Get("tac"))
	if errors.Join(err2, errT) != nil || !bytes.Equal(got2, mac2[:]) || !bytes.Equal(gotT, tac[:]) {
		return fail(protocol.CodePurchaseMAC)
	}
	if st.med.verified == nil {
		st.med.verified = map[string]bool{}
	}
	st.med.verified[strings.ToUpper(d.Get("cardId"))+"/"+d.Get("cardSeq")+"/"+d.Get("terminalSeq")] = true
	var r protocol.Data
	r.Set("verified", "Y")
	return r, protocol.CodeOK, ""
}

// VerifiedPurchases counts the medical purchases whose MAC2 and TAC the sandbox
// verified.
func (s *Server) VerifiedPurchases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.state.med.verified)
}

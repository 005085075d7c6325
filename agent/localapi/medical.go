package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/records"
)

// PIN is the holder's PIN as the kiosk application sends it: a JSON string of 4-16
// digits, decoded into bytes the agent zeroes after use. It never prints.
type PIN []byte

// UnmarshalJSON implements json.Unmarshaler.
func (p *PIN) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("pin must be a string of digits")
	}
	v := b[1 : len(b)-1]
	for _, c := range v {
		if c < '0' || c > '9' {
			return errors.New("pin must be a string of digits")
		}
	}
	*p = append(PIN(nil), v...)
	return nil
}

// String hides the PIN.
func (p PIN) String() string { return "******" }

// Zero overwrites the PIN.
func (p PIN) Zero() { clear(p) }

// MedicalSettleRequest is the body of POST /v1/medical/settle: a medical settlement on
// the holder's card (7.2.5 c), amounts in fen.
type MedicalSettleRequest struct {
	// SettlementID identifies the settlement for retries (1-32 letters, digits, '-' or
	// '_'); a settlement posted again with the same id is never debited twice. Empty:
	// the agent numbers it.
	SettlementID string `json:"settlementId,omitempty"`
	// Reader names the holder reader; empty: the reader of a medical scene with a card.
	Reader string `json:"reader,omitempty"`
	// AccountPay, SelfPay and FundPay are 个人账户支付, 个人自付 and 统筹基金支付 in fen.
	AccountPay int64 `json:"accountPay"`
	SelfPay    int64 `json:"selfPay"`
	FundPay    int64 `json:"fundPay"`
	// SettlementType is the C.10 支付结算类型 of the record; default the scene's (03 门诊支付).
	SettlementType string `json:"settlementType,omitempty"`
	// PIN is the holder's PIN, 4-16 digits. Required; never logged or stored.
	PIN PIN `json:"pin"`
}

// MedicalSettleResult is the outcome: State debited, not-debited or pending (the card
// was pulled during the debit: insert it again, GET TRANSACTION PROOF tells), with the
// national code and the 8.4 prompts of a failure.
type MedicalSettleResult struct {
	SettlementID string          `json:"settlementId"`
	State        string          `json:"state"`
	Code         int             `json:"code"`
	Meaning      string          `json:"meaning,omitempty"`
	Reader       string          `json:"reader,omitempty"`
	AuthBy       string          `json:"authBy,omitempty"`
	TAC          string          `json:"tac,omitempty"`
	Verified     bool            `json:"verified"`
	Recovered    bool            `json:"recovered,omitempty"`
	Balance      *int64          `json:"balance,omitempty"` // the personal account after the debit, fen
	RecordID     string          `json:"recordId,omitempty"`
	Prompts      *prompt.Prompts `json:"prompts,omitempty"`
}

// MedicalService settles on the card of a medical scene's reader. A card or platform
// failure is a result; errors are the API's own.
type MedicalService interface {
	SettleMedical(ctx context.Context, r MedicalSettleRequest) (MedicalSettleResult, error)
}

func (s *Server) medicalSettle(w http.ResponseWriter, r *http.Request) {
	if s.o.Medical == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no medical scene on this terminal", nil)
		return
	}
	var req MedicalSettleRequest
	defer func() { req.PIN.Zero() }()
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	for _, a := range []struct {
		name string
		v    int64
	}{{"accountPay", req.AccountPay}, {"selfPay", req.SelfPay}, {"fundPay", req.FundPay}} {
		if a.v < 0 || a.v > 0xFFFFFFFF {
			fe = append(fe, FieldError{Field: a.name, Reason: "must be fen from 0 to 4294967295"})
		}
	}
	if req.AccountPay+req.SelfPay+req.FundPay == 0 {
		fe = append(fe, FieldError{Field: "accountPay", Reason: "the three amounts add up to nothing"})
	}
	if n := len(req.PIN); n < 4 || n > 16 {
		fe = append(fe, FieldError{Field: "pin", Reason: "required, 4-16 digits"})
	}
	if req.SettlementType != "" {
		// Checked before the card is debited: a record refused afterwards would leave a
		// debit without its C.4 record on the platform.
		if v, ok := records.RangeSettlementType.Lookup(req.SettlementType); !ok || v.Code == settlementRefund {
			fe = append(fe, FieldError{Field: "settlementType", Reason: "a table C.10 支付结算类型 (01-07 or its label; 08 退费/退款 is a refund's)"})
		}
	}
	if !validSettlementID(req.SettlementID) {
		fe = append(fe, FieldError{Field: "settlementId", Reason: "1-32 letters, digits, '-' or '_'"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Medical.SettleMedical(r.Context(), req)
	s.answer(w, r, http.StatusOK, v, err)
}

// settlementRefund is C.10 08 退费/退款: a refund's type, never a settlement's.
const settlementRefund = "08"

func validSettlementID(id string) bool {
	if len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var _ json.Unmarshaler = (*PIN)(nil)

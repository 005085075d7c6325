package payment

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
)

// State is where an order stands.
type State string

// States. SUCCESS, FAILED, REVERSED and NEEDS_MANUAL are final.
const (
	Created     State = "CREATED"
	Sent        State = "SENT"
	Unknown     State = "UNKNOWN"
	Querying    State = "QUERYING"
	Reversing   State = "REVERSING"
	Success     State = "SUCCESS"
	Failed      State = "FAILED"
	Reversed    State = "REVERSED"
	NeedsManual State = "NEEDS_MANUAL"
)

// Final reports whether s is an end state.
func (s State) Final() bool {
	return s == Success || s == Failed || s == Reversed || s == NeedsManual
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	switch s {
	case Created, Sent, Unknown, Querying, Reversing, Success, Failed, Reversed, NeedsManual:
		return true
	}
	return false
}

// Order is one payment attempt. It holds no personal data and never the code.
type Order struct {
	// No is the order number sent to the platform: terminal id + "-" + 16 digits.
	No string `json:"orderNo"`
	// Amount is in fen (分).
	Amount int64 `json:"amount"`
	// Subject is what is paid for.
	Subject string `json:"subject"`
	// Scene is the payment scene's name, when the terminal runs several.
	Scene string `json:"scene,omitempty"`
	// State is where the order stands.
	State State `json:"state"`
	// TradeNo is the platform's transaction serial (交易流水号) once paid.
	TradeNo string `json:"tradeNo,omitempty"`
	// Refunded: the order was reversed after the holder had paid; the money went back
	// (a REVERSED order without it was closed unpaid).
	Refunded bool `json:"refunded,omitempty"`
	// Reason says why the order failed, was reversed or needs a person (masked).
	Reason string `json:"reason,omitempty"`
	// CancelRequested is set by a cashier cancel while the outcome was open.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Queries and Reverses count the calls made.
	Queries  int `json:"queries"`
	Reverses int `json:"reverses"`
	// Created, Sent and Finished are when the order was created, its code submitted and
	// its final state reached.
	Created  time.Time `json:"created"`
	Sent     time.Time `json:"sent,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Recorded is set once the agent has queued the order's C.4 record (MarkRecorded).
	Recorded bool `json:"recorded,omitempty"`
	// IdempotencyKey is the application's key for the request that created the order.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Settled is a person's resolution of a NEEDS_MANUAL order (Settle).
	Settled *Settlement `json:"settled,omitempty"`
}

// Settlement is what a person found when settling a NEEDS_MANUAL order with the
// platform (对账): whether money moved, and a note.
type Settlement struct {
	// Paid says the holder was charged and not refunded: the business was paid. The C.4
	// record is then the application's to post (POST /v1/records), with the payer's data
	// from the platform.
	Paid bool `json:"paid"`
	// Note is the person's note (masked), e.g. the platform's answer or ticket number.
	Note string `json:"note"`
	// Operator is who settled it (10.3.4 c): 1-32 letters, digits, '-' or '_'.
	Operator string `json:"operator,omitempty"`
	// At is when it was settled.
	At time.Time `json:"at"`
}

// PromptCode returns the prompt for the order's state.
func (o Order) PromptCode() prompt.Code {
	switch o.State {
	case Created:
		return CodeWaitingCode
	case Sent:
		return CodePaying
	case Unknown, Querying:
		return CodeChecking
	case Reversing:
		return CodeReversing
	case Success:
		return CodePaid
	case Reversed:
		return CodeReversed
	case NeedsManual:
		if o.Settled != nil {
			return CodeSettled
		}
		return CodeNeedsManual
	case Failed:
		if o.Reason == reasonCancelled {
			return CodeCancelled
		}
		return CodeFailed
	}
	return prompt.CodeInternal
}

// stored is an order as persisted: the order and its code hash.
type stored struct {
	Order
	Seq      uint64 `json:"seq"`
	CodeHash []byte `json:"codeHash,omitempty"`
}

var errBadOrder = errors.New("payment: malformed stored order")

func encodeStored(s *stored) ([]byte, error) { return json.Marshal(s) }

// decodeStored parses a persisted order and checks what the state machine relies on.
func decodeStored(b []byte) (*stored, error) {
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadOrder, err)
	}
	if !s.State.Valid() || s.No == "" || s.Seq == 0 || s.Amount <= 0 {
		return nil, errBadOrder
	}
	return &s, nil
}

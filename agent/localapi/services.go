package localapi

import (
	"context"
	"encoding/json"
	"errors"
)

// PaymentRequest asks for a payment (spec 7.2.3 被扫 with a scanned code, or 7.2.4 主扫).
type PaymentRequest struct {
	// Amount in fen (分), 1 to 100000000.
	Amount int64 `json:"amount"`
	// Subject is what is paid for, shown to the holder.
	Subject string `json:"subject"`
	// Code is the e-card payment code when the application scanned it itself; when empty
	// the terminal's scanner supplies it.
	Code string `json:"code,omitempty"`
	// Scene names the payment scene when the terminal runs several.
	Scene string `json:"scene,omitempty"`
	// IdempotencyKey (header Idempotency-Key) makes a retried POST return the same order.
	IdempotencyKey string `json:"-"`
}

// PaymentService creates and follows payments. Views are JSON-encoded as returned.
type PaymentService interface {
	Create(ctx context.Context, r PaymentRequest) (any, error)
	Get(ctx context.Context, id string) (any, error)
	Cancel(ctx context.Context, id string) (any, error)
	// List returns the orders in the given states (all orders when none), newest first,
	// at most limit of them.
	List(ctx context.Context, states []string, limit int) (any, error)
	// Settle records a person's resolution of a NEEDS_MANUAL order.
	Settle(ctx context.Context, id string, r SettleRequest) (any, error)
}

// SettleRequest is the body of POST /v1/payments/{id}/settle: what a person found when
// checking a NEEDS_MANUAL order with the platform (对账).
type SettleRequest struct {
	// Paid says the holder was charged and not refunded. Required.
	Paid *bool `json:"paid"`
	// Note says what the platform said (a ticket number, the statement line). Required.
	Note string `json:"note"`
	// Operator is the id of the person who settles (spec 10.3.4 c): 1-32 letters,
	// digits, '-' or '_'. Required.
	Operator string `json:"operator"`
}

// RecordSink validates an Appendix C record and stores it durably; it returns the
// record's stable id only once the record is on disk. With an idempotency key (may be
// empty) a record sent again is not stored again: the first one's id comes back with
// replayed true; the key reused for another record is ErrConflict.
type RecordSink interface {
	Accept(ctx context.Context, kind string, record json.RawMessage, idempotencyKey string) (id string, replayed bool, err error)
}

// StatusSource reports the terminal's status.
type StatusSource interface{ Status() any }

// QueueSource reports queue statistics.
type QueueSource interface{ QueueStats() any }

// ReadSource serves the reads that kiosk and medical scenes hand to the application
// (the holder's data in clear, for a short time).
type ReadSource interface {
	Read(ctx context.Context, id string) (any, error)
}

// Errors the services return, mapped to HTTP statuses. Wrap them.
var (
	ErrNotFound    = errors.New("not found")               // 404
	ErrConflict    = errors.New("conflict")                // 409 (e.g. cancel of a paid order)
	ErrUnavailable = errors.New("temporarily unavailable") // 503
	ErrFull        = errors.New("storage full")            // 507: new business refused
)

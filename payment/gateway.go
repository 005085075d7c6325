package payment

import "context"

// PayRequest is one pay call (micropay with a scanned e-card payment code).
type PayRequest struct {
	// OrderNo is the order number, the platform's idempotency key for the order.
	OrderNo string
	// Amount is in fen.
	Amount int64
	// Subject is what is paid for.
	Subject string
	// Code is the holder's e-card payment code. It is a secret: never log it.
	Code string
}

// Status is the platform's view of an order.
type Status uint8

// Statuses.
const (
	// StatusPaid: the money was taken.
	StatusPaid Status = iota + 1
	// StatusUserPaying: the holder is confirming (password, risk check); ask again.
	StatusUserPaying
	// StatusNotFound: the platform has no order with this number (yet).
	StatusNotFound
	// StatusClosed: the order ended unpaid (refused, expired, cancelled by the holder).
	StatusClosed
	// StatusReversed: the order was reversed (closed unpaid, or refunded).
	StatusReversed
)

var statusNames = [...]string{"", "paid", "user-paying", "not-found", "closed", "reversed"}

func (s Status) String() string {
	if int(s) < len(statusNames) && s > 0 {
		return statusNames[s]
	}
	return "status(?)"
}

// Result is the platform's answer to a pay or query call.
type Result struct {
	Status Status
	// TradeNo is the platform's transaction serial when paid.
	TradeNo string
	// Reason is the platform's message when closed.
	Reason string
}

// ReverseResult is the platform's answer to a reverse call.
type ReverseResult struct {
	// Done: the order is closed for good; money taken, if any, is refunded.
	Done bool
	// Refunded: the order had been paid and the reversal gave the money back.
	Refunded bool
	// Reason is the platform's message when not done (call again).
	Reason string
}

// Gateway is the platform's payment service as the state machine uses it; the agent
// adapts the platform client to it. Errors are classified with platform.ClassOf:
// rejected means the platform verifiably refused (for Pay: nothing was charged);
// retryable means the request surely did not arrive; unknown and unverified mean it may
// have. A nil error comes with a verified answer.
type Gateway interface {
	Pay(ctx context.Context, r PayRequest) (Result, error)
	Query(ctx context.Context, orderNo string) (Result, error)
	Reverse(ctx context.Context, orderNo string) (ReverseResult, error)
}

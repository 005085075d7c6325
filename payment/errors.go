package payment

import "errors"

// Errors. Match them with errors.Is.
var (
	// ErrNotFound: no order with that number.
	ErrNotFound = errors.New("payment: no such order")
	// ErrCodeUsed: the e-card code was submitted before; it is never submitted twice.
	// The holder must show a new code.
	ErrCodeUsed = errors.New("payment: this payment code was already used")
	// ErrState: the order is not in a state that allows the request (a code for an order
	// that already has one).
	ErrState = errors.New("payment: not allowed in the order's state")
	// ErrFinal: the order has ended; it cannot be cancelled.
	ErrFinal = errors.New("payment: order already final")
	// ErrConflict: an idempotency key reused for a different request.
	ErrConflict = errors.New("payment: idempotency key reused for a different request")
	// ErrNotRunning: Pay before Run or after it returned.
	ErrNotRunning = errors.New("payment: not running")
	// ErrInvalid: a request with a bad amount, subject or code.
	ErrInvalid = errors.New("payment: invalid request")
	// ErrReadOnly: a change on a store opened read-only.
	ErrReadOnly = errors.New("payment: opened read-only")
)

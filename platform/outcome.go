package platform

import (
	"context"
	"errors"
	"fmt"
)

// Class is how a platform call ended. It decides what the caller may do next, so every
// call returns exactly one, and only ClassSuccess means the platform did what was asked.
type Class uint8

// Classes of outcome.
const (
	// ClassSuccess: the platform answered msgCode 000000 in a response whose signature,
	// requestId echo and timestamp all verified.
	ClassSuccess Class = iota
	// ClassRejected: the platform answered, verifiably, with a business rejection (an
	// invalid card, an expired code, a refused record). Retrying the same request cannot
	// change the answer; do not retry. Unknown msgCodes fall here with the code kept.
	ClassRejected
	// ClassRetryable: nothing reached the platform (connection refused, DNS, TLS, a
	// timeout before the request was written), or the platform said, verifiably, to try
	// again later (system busy). Safe to retry with a new requestId.
	ClassRetryable
	// ClassUnknown: the request was sent and no answer came (timeout after sending, a
	// reset connection, an HTTP 5xx without an envelope). The platform may or may not have
	// acted. Resolve by querying on the business key; never blindly resend a payment.
	ClassUnknown
	// ClassUnverified: an answer came but failed verification: bad or missing signature,
	// a requestId that does not echo ours, a timestamp outside the window, a malformed
	// envelope. It is never success; treat the outcome as unknown and raise an alarm,
	// since it may be a forgery.
	ClassUnverified
)

var classNames = [...]string{"success", "rejected", "retryable", "unknown", "unverified"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// MarshalText writes the class name (for JSON, logs and MQTT).
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Error is the error of every call that did not succeed.
type Error struct {
	// Op is the operation called ("cardAuth", "micropay", ...).
	Op string
	// Class says what the caller may do next.
	Class Class
	// MsgCode and Msg are the platform's answer when it gave a verified one.
	MsgCode string
	Msg     string
	// RequestID is the envelope requestId of the last attempt ("" when nothing was
	// built), for matching the platform's logs.
	RequestID string
	// HTTPStatus is the HTTP status of an answer that was not a verified envelope
	// (0 when there was none).
	HTTPStatus int
	// Err is the underlying cause, if any (network error, verification failure).
	Err error
}

func (e *Error) Error() string {
	s := "platform " + e.Op + ": " + e.Class.String()
	if e.MsgCode != "" {
		s += " [" + e.MsgCode + "]"
	}
	if e.Msg != "" {
		s += " " + e.Msg
	}
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of a call's error: ClassSuccess for nil, the class of a
// wrapped *Error, and ClassUnknown for anything else, because an unclassified failure
// must never be mistaken for a safe one.
func ClassOf(err error) Class {
	if err == nil {
		return ClassSuccess
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return ClassUnknown
}

// IsCanceled reports whether err comes from a cancelled context (a shutdown), which
// callers report differently from a platform failure.
func IsCanceled(err error) bool { return errors.Is(err, context.Canceled) }

var _ error = (*Error)(nil)

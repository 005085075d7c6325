package localapi

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/prompt"
)

// RefundRequest is the body of POST /v1/payments/{id}/refunds: give (part of) a paid
// order back to the holder.
type RefundRequest struct {
	// RefundNo is the refund number, the refund's idempotency key (optional: the agent
	// makes one). Send the same number to retry a request whose answer was lost.
	RefundNo string `json:"refundNo,omitempty"`
	// Amount in fen; the refunds of an order add up to at most what was paid.
	Amount int64 `json:"amount"`
	// Operator is who orders the refund. Required.
	Operator string `json:"operator"`
	// Reason is optional, at most 80 characters.
	Reason string `json:"reason,omitempty"`
}

// RefundService makes and follows refunds. Views are JSON-encoded as returned.
type RefundService interface {
	Refund(ctx context.Context, orderNo string, r RefundRequest) (any, error)
	// GetRefund returns the refund, once it is final or wait has passed.
	GetRefund(ctx context.Context, refundNo string, wait time.Duration) (any, error)
}

// maxRefundWait bounds GET /v1/refunds/{no}?wait=.
const maxRefundWait = 60 * time.Second

var reRefundField = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// createRefund is POST /v1/payments/{id}/refunds.
func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	if s.o.Refunds == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return
	}
	var req RefundRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	if req.Amount < 1 || req.Amount > 100_000_000 {
		fe = append(fe, FieldError{Field: "amount", Reason: "must be an integer number of fen from 1 to 100000000"})
	}
	if !reRefundField.MatchString(req.Operator) {
		fe = append(fe, FieldError{Field: "operator", Reason: "required: the operator id, 1-32 letters, digits, '-' or '_'"})
	}
	if req.RefundNo != "" && !reRefundField.MatchString(req.RefundNo) {
		fe = append(fe, FieldError{Field: "refundNo", Reason: "1-32 letters, digits, '-' or '_'"})
	}
	if n := len([]rune(strings.TrimSpace(req.Reason))); n > 80 {
		fe = append(fe, FieldError{Field: "reason", Reason: "at most 80 characters"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Refunds.Refund(r.Context(), r.PathValue("id"), req)
	s.answer(w, r, http.StatusAccepted, v, err)
}

// getRefund is GET /v1/refunds/{no}[?wait=D]: with wait, a long poll that answers as
// soon as the refund is final, or after D (at most 60s) with its state then.
func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	if s.o.Refunds == nil {
		writeError(w, http.StatusNotFound, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return
	}
	wait, ok := s.waitParam(w, r, maxRefundWait)
	if !ok {
		return
	}
	v, err := s.o.Refunds.GetRefund(r.Context(), r.PathValue("no"), wait)
	s.answer(w, r, http.StatusOK, v, err)
}

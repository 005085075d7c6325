package localapi

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sscagent/sscagent/internal/prompt"
)

// hasPayments answers 404 when the terminal has no payment scene.
func (s *Server) hasPayments(w http.ResponseWriter) bool {
	if s.o.Payments == nil {
		writeError(w, http.StatusNotFound, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return false
	}
	return true
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	if s.o.Payments == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no payment scene on this terminal", nil)
		return
	}
	var req PaymentRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	key, kerr := idempotencyKey(r)
	if kerr != nil {
		fe = append(fe, *kerr)
	}
	req.IdempotencyKey = key
	if req.Amount < 1 || req.Amount > 100_000_000 {
		fe = append(fe, FieldError{Field: "amount", Reason: "must be an integer number of fen from 1 to 100000000"})
	}
	if n := len([]rune(req.Subject)); n == 0 || n > 120 {
		fe = append(fe, FieldError{Field: "subject", Reason: "required, at most 120 characters"})
	}
	if len(req.Code) > 512 {
		fe = append(fe, FieldError{Field: "code", Reason: "at most 512 characters"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Payments.Create(r.Context(), req)
	s.answer(w, r, http.StatusAccepted, v, err)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	v, err := s.o.Payments.Get(r.Context(), r.PathValue("id"))
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	v, err := s.o.Payments.Cancel(r.Context(), r.PathValue("id"))
	s.answer(w, r, http.StatusAccepted, v, err)
}

// maxList bounds GET /v1/payments.
const maxList = 500

// listPayments is GET /v1/payments?state=S[,S...]&limit=N.
func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	var states []string
	for _, v := range r.URL.Query()["state"] {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				states = append(states, strings.ToUpper(st))
			}
		}
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxList {
			s.fail(w, &InvalidError{Fields: []FieldError{{Field: "limit", Reason: fmt.Sprintf("an integer from 1 to %d", maxList)}}})
			return
		}
		limit = n
	}
	v, err := s.o.Payments.List(r.Context(), states, limit)
	s.answer(w, r, http.StatusOK, v, err)
}

// settlePayment is POST /v1/payments/{id}/settle.
func (s *Server) settlePayment(w http.ResponseWriter, r *http.Request) {
	if !s.hasPayments(w) {
		return
	}
	var req SettleRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var fe []FieldError
	if req.Paid == nil {
		fe = append(fe, FieldError{Field: "paid", Reason: "required: true if the holder was charged and not refunded"})
	}
	if n := len([]rune(strings.TrimSpace(req.Note))); n == 0 || n > 200 {
		fe = append(fe, FieldError{Field: "note", Reason: "required, at most 200 characters: what the platform said"})
	}
	if !reRefundField.MatchString(req.Operator) {
		fe = append(fe, FieldError{Field: "operator", Reason: "required: the operator id, 1-32 letters, digits, '-' or '_'"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Payments.Settle(r.Context(), r.PathValue("id"), req)
	s.answer(w, r, http.StatusOK, v, err)
}

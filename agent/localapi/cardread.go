package localapi

import (
	"context"
	"net/http"

	"github.com/sscagent/sscagent/internal/prompt"
)

// CardReadRequest asks for a card read as the national reader interface does
// (iReadCardBas, iReadCardBas_HSM_Step1).
type CardReadRequest struct {
	// Reader names the holder-card reader; empty picks one by IType.
	Reader string `json:"reader,omitempty"`
	// IType is the national iType: 1 contact, 2 contactless, 3 auto (contact first),
	// 4 auto (contactless first).
	IType int `json:"iType"`
}

// HSMStep2Request is the second call of the HSM two-step: the session Step 1 opened and
// the platform's answer (pKey, 持卡库 卡内部认证).
type HSMStep2Request struct {
	Session string `json:"session"`
	PKey    string `json:"pKey"`
}

// CardReadResult is the national interface's answer: Code 0 and the 11-field string
// (UTF-8), or the national error code, its meaning and the 8.4 prompts. Step 1 answers
// the Step 1 string and the session to pass to Step 2.
type CardReadResult struct {
	Code         int             `json:"code"`
	Meaning      string          `json:"meaning,omitempty"`
	Reader       string          `json:"reader,omitempty"`
	IReadCardBas string          `json:"iReadCardBas,omitempty"`
	Step1        string          `json:"step1,omitempty"`
	Session      string          `json:"session,omitempty"`
	Prompts      *prompt.Prompts `json:"prompts,omitempty"`
	// Subject is the holder's social security number masked, for the audit log; never
	// sent.
	Subject string `json:"-"`
}

// CardReader reads cards on demand for the national reader interface library
// (cmd/sscreader). A card failure is a result with its national code, not an error;
// errors are the API's own (the terminal has no reader scene, the agent stops).
type CardReader interface {
	ReadCard(ctx context.Context, r CardReadRequest) (CardReadResult, error)
	HSMStep1(ctx context.Context, r CardReadRequest) (CardReadResult, error)
	HSMStep2(ctx context.Context, r HSMStep2Request) (CardReadResult, error)
}

// invalid returns the field error of an iType that is not one of the four national ones.
func (r CardReadRequest) invalid() *InvalidError {
	if r.IType < 1 || r.IType > 4 {
		return &InvalidError{Fields: []FieldError{{Field: "iType",
			Reason: "must be 1 (contact), 2 (contactless), 3 (auto, contact first) or 4 (auto, contactless first)"}}}
	}
	return nil
}

func (s *Server) cardReader(w http.ResponseWriter) bool {
	if s.o.Cards == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "no reader scene on this terminal", nil)
		return false
	}
	return true
}

func (s *Server) readCard(w http.ResponseWriter, r *http.Request) {
	s.cardRead(w, r, CardReader.ReadCard)
}

func (s *Server) hsmStep1(w http.ResponseWriter, r *http.Request) {
	s.cardRead(w, r, CardReader.HSMStep1)
}

// cardRead serves a read that starts at the card (iReadCardBas, HSM Step 1) with op.
func (s *Server) cardRead(w http.ResponseWriter, r *http.Request,
	op func(CardReader, context.Context, CardReadRequest) (CardReadResult, error)) {
	var req CardReadRequest
	if !s.cardReader(w) || !decodeBody(w, r, &req) {
		return
	}
	if inv := req.invalid(); inv != nil {
		s.fail(w, inv)
		return
	}
	v, err := op(s.o.Cards, r.Context(), req)
	s.answer(w, r, http.StatusOK, v, err)
}

func (s *Server) hsmStep2(w http.ResponseWriter, r *http.Request) {
	var req HSMStep2Request
	if !s.cardReader(w) || !decodeBody(w, r, &req) {
		return
	}
	if req.Session == "" || req.PKey == "" || len(req.PKey) > 1024 {
		s.fail(w, &InvalidError{Fields: []FieldError{{Field: "session", Reason: "required: the session of Step 1"},
			{Field: "pKey", Reason: "required: the platform's answer, at most 1024 characters"}}})
		return
	}
	v, err := s.o.Cards.HSMStep2(r.Context(), req)
	s.answer(w, r, http.StatusOK, v, err)
}

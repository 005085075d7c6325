package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sscagent/sscagent/internal/prompt"
)

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 64

// idempotencyKey returns the request's Idempotency-Key header, or a field error: at most
// 64 printable ASCII characters without spaces.
func idempotencyKey(r *http.Request) (string, *FieldError) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > maxIdempotencyKey {
		return "", &FieldError{Field: "Idempotency-Key", Reason: "at most 64 characters"}
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", &FieldError{Field: "Idempotency-Key", Reason: "printable ASCII characters without spaces"}
		}
	}
	return k, nil
}

// FieldError is one invalid field of a request.
type FieldError struct {
	Field string `json:"field"`
	// Rule is the rule that failed, when the validator names one (records: "n12",
	// "GB 11643", "C.9", "required", ...).
	Rule   string `json:"rule,omitempty"`
	Reason string `json:"reason"`
}

// InvalidError is a request refused at the door with the reason for every field.
type InvalidError struct {
	Fields []FieldError
	// Code is the prompt shown; zero means the general input format prompt (900001).
	Code prompt.Code
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid request:")
	for _, f := range e.Fields {
		fmt.Fprintf(&b, " %s: %s;", f.Field, f.Reason)
	}
	return b.String()
}

// answer writes v with status, or the error err as fail does. An answer with clear
// personal data is written to the audit log first, and withheld when it cannot be.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	if !s.audited(w, r, v) {
		return
	}
	writeJSON(w, status, v)
}

func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	return decodeBodyUpTo(w, r, dst, MaxBody)
}

// decodeBodyUpTo is decodeBody for a body of at most limit bytes.
func decodeBodyUpTo(w http.ResponseWriter, r *http.Request, dst any, limit int64) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, prompt.CodeBadInput, "Content-Type must be application/json", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, prompt.CodeBadInput, fmt.Sprintf("body larger than %d KiB", limit>>10), nil)
			return false
		}
		writeError(w, http.StatusBadRequest, prompt.CodeBadInput, "body is not valid JSON for this request: "+err.Error(), nil)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, prompt.CodeBadInput, "trailing data after the JSON body", nil)
		return false
	}
	return true
}

// fail maps a service error to a status and a prompt.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var inv *InvalidError
	var coded interface{ PromptCode() prompt.Code }
	code := prompt.CodeInternal
	if errors.As(err, &coded) {
		code = coded.PromptCode()
	}
	switch {
	case errors.As(err, &inv):
		c := inv.Code
		if c == 0 {
			c = prompt.CodeBadInput
		}
		writeError(w, http.StatusUnprocessableEntity, c, "invalid fields", inv.Fields)
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, code, err.Error(), nil)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, code, err.Error(), nil)
	case errors.Is(err, ErrFull):
		writeError(w, http.StatusInsufficientStorage, prompt.CodeDiskFull, err.Error(), nil)
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, code, err.Error(), nil)
	default:
		s.o.Logger.Error("local API request failed", "err", err)
		writeError(w, http.StatusInternalServerError, code, "internal error", nil)
	}
}

// errorBody is every error answer: the message, the 8.4 prompts and the field errors.
type errorBody struct {
	Error struct {
		Message string         `json:"message"`
		Prompts prompt.Prompts `json:"prompts"`
		Fields  []FieldError   `json:"fields,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code prompt.Code, msg string, fields []FieldError) {
	var b errorBody
	b.Error.Message = msg
	b.Error.Prompts = prompt.Lookup(code).All(prompt.ZH)
	b.Error.Fields = fields
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

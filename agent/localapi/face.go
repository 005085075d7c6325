package localapi

import (
	"context"
	"net/http"

	"github.com/sscagent/sscagent/internal/prompt"
	"github.com/sscagent/sscagent/platform/protocol"
)

// FaceRequest is the body of POST /v1/face: a face verification (7.1.3 实人认证) of the
// holder of an earlier read.
type FaceRequest struct {
	// ReadID is the id of a card or e-card read of this session (GET /v1/reads/{id}):
	// the holder whose face is compared. Required.
	ReadID string `json:"readId"`
	// Image is the photograph taken at the kiosk: a JPEG of at most 512 KiB, base64 in
	// the JSON body. Required; never logged, stored or put in an event.
	Image []byte `json:"image"`
}

// FaceResult is the outcome: Result pass or fail with the platform's Score, refused
// (the platform would not compare: no portrait, unknown person) or unavailable (no
// answer; nothing compared), the C.3 record's id and the 8.4 prompts.
type FaceResult struct {
	Result    string          `json:"result"`
	Score     string          `json:"score,omitempty"`
	Threshold string          `json:"threshold,omitempty"`
	RecordID  string          `json:"recordId,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
	Prompts   *prompt.Prompts `json:"prompts,omitempty"`
}

// Face verification results.
const (
	FacePass        = "pass"
	FaceFail        = "fail"
	FaceRefused     = "refused"
	FaceUnavailable = "unavailable"
)

// FaceService verifies a holder's face with the platform. A platform outcome is a
// result; errors are the API's own (ErrNotFound: no such read).
type FaceService interface {
	VerifyFace(ctx context.Context, r FaceRequest) (FaceResult, error)
}

// maxFaceBody bounds POST /v1/face: the JPEG in base64 and the read id.
const maxFaceBody = protocol.MaxFaceImage*4/3 + 4<<10

func (s *Server) verifyFace(w http.ResponseWriter, r *http.Request) {
	if s.o.Face == nil {
		writeError(w, http.StatusNotImplemented, prompt.CodeNotAllowed, "face verification is not offered on this terminal", nil)
		return
	}
	var req FaceRequest
	defer func() { clear(req.Image) }()
	if !decodeBodyUpTo(w, r, &req, maxFaceBody) {
		return
	}
	var fe []FieldError
	if !validReadID(req.ReadID) {
		fe = append(fe, FieldError{Field: "readId", Reason: "required: the id of a card or e-card read (GET /v1/reads/{id})"})
	}
	if err := protocol.CheckJPEG(req.Image); err != nil {
		fe = append(fe, FieldError{Field: "image", Reason: err.Error() + "; send a JPEG of at most 512 KiB, base64"})
	}
	if len(fe) > 0 {
		s.fail(w, &InvalidError{Fields: fe})
		return
	}
	v, err := s.o.Face.VerifyFace(r.Context(), req)
	s.answer(w, r, http.StatusOK, v, err)
}

// validReadID accepts what readStore hands out: 24 lower-case hex digits.
func validReadID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

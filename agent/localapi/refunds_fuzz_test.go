package localapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeRefunds records what the handler passed on.
type fakeRefunds struct{ last *RefundRequest }

func (f *fakeRefunds) Refund(_ context.Context, _ string, r RefundRequest) (any, error) {
	f.last = &r
	return map[string]any{"state": "SENT"}, nil
}

func (f *fakeRefunds) GetRefund(context.Context, string, time.Duration) (any, error) {
	return map[string]any{}, nil
}

// FuzzRefundBodies: whatever the body of POST /v1/payments/{id}/refunds, the answer is
// JSON with a 2xx or 4xx status, and only a refund with an amount in range and an
// operator id reaches the service.
func FuzzRefundBodies(f *testing.F) {
	for _, seed := range []string{
		`{"amount": 500, "operator": "op-7", "refundNo": "RF-1", "reason": "退号"}`,
		`{"amount": 500}`, `{"amount": -1, "operator": "x"}`, `{"amount": 1, "operator": "a b"}`,
		`{"amount": 1, "operator": "op", "refundNo": "` + strings.Repeat("9", 33) + `"}`, `[]`, ``, `null`,
	} {
		f.Add(seed)
	}
	fr := &fakeRefunds{}
	s, err := New(Options{Config: DefaultConfig(), Token: token, Refunds: fr})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		fr.last = nil
		req := httptest.NewRequest(http.MethodPost, "/v1/payments/P-1/refunds", strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted && (w.Code < 400 || w.Code > 499) || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: status %d, %q", body, w.Code, w.Body.String())
		}
		if l := fr.last; l != nil && (l.Amount < 1 || l.Amount > 100_000_000 || !reRefundField.MatchString(l.Operator) ||
			l.RefundNo != "" && !reRefundField.MatchString(l.RefundNo)) {
			t.Fatalf("%q passed on as %+v", body, *l)
		}
	})
}

package localapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies sends arbitrary bodies to the endpoints that take one. Whatever the
// body, the server answers one of the documented statuses with a JSON body; a body it
// refuses never reaches the service (the fakes record what they are given), and one it
// passes on is a well-formed request.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"amount": 1250, "subject": "挂号费", "scene": "pos"}`,
		`{"amount": 0, "subject": ""}`,
		`{"amount": 1e3, "subject": "x"}`,
		`{"amount": 1, "subject": "x", "code": "ESSC0123456789ABCDEF", "extra": 1}`,
		`{"type": "credential", "record": {"accessNo": "350100000001"}}`,
		`{"type": "payment", "record": []}`,
		`{"type": "benefit"}{}`,
		`[]`, ``, `null`, `{"amount": 99999999999999999999}`, "{\"subject\": \"\xff\"}",
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	p, r := &fakePayments{}, &fakeRecords{}
	s, err := New(Options{Config: DefaultConfig(), Token: token, Payments: p, Records: r})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string, payment bool) {
		path := "/v1/records"
		if payment {
			path = "/v1/payments"
		}
		p.last = PaymentRequest{}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity,
			http.StatusInsufficientStorage:
		default:
			t.Fatalf("%s %q: status %d", path, body, w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: answer is not JSON: %q", path, body, w.Body.String())
		}
		if payment && w.Code == http.StatusAccepted {
			l := p.last
			if l.Amount < 1 || l.Amount > 100_000_000 || l.Subject == "" || len([]rune(l.Subject)) > 120 || len(l.Code) > 512 {
				t.Fatalf("%q passed on as %+v", body, l)
			}
		}
		if !payment && w.Code == http.StatusAccepted {
			var rr recordRequest
			if json.Unmarshal([]byte(body), &rr) != nil || rr.Type == "" || len(rr.Record) == 0 || rr.Record[0] != '{' {
				t.Fatalf("%q passed on as a record", body)
			}
		}
	})
}

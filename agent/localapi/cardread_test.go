package localapi

import (
	"context"
	"testing"
)

// fakeCards answers every read with the request it got (the logic under test is the
// door: validation and the token).
type fakeCards struct{ got []CardReadRequest }

func (f *fakeCards) ReadCard(_ context.Context, r CardReadRequest) (CardReadResult, error) {
	f.got = append(f.got, r)
	return CardReadResult{Reader: r.Reader, IReadCardBas: "x|"}, nil
}

func (f *fakeCards) HSMStep1(_ context.Context, r CardReadRequest) (CardReadResult, error) {
	f.got = append(f.got, r)
	return CardReadResult{Step1: "s|", Session: "1"}, nil
}

func (f *fakeCards) HSMStep2(_ context.Context, r HSMStep2Request) (CardReadResult, error) {
	return CardReadResult{Code: -12}, nil
}

// TestCardReadDoor: the card routes take the token, refuse an iType outside 1-4, a
// Step 2 without session or pKey and unknown fields before the reader is asked, and
// answer 501 on a server without a card reader.
func TestCardReadDoor(t *testing.T) {
	f := &fakeCards{}
	_, base := start(t, Options{Cards: f})
	for _, tc := range []struct {
		path, tok, body string
		want            int
	}{
		{"/v1/card/read", "", `{"iType":1}`, 401},
		{"/v1/card/read", token, `{"iType":0}`, 422},
		{"/v1/card/read", token, `{"iType":5}`, 422},
		{"/v1/card/read", token, `{"iType":1,"mode":"x"}`, 400},
		{"/v1/card/hsm/step1", token, `{}`, 422},
		{"/v1/card/hsm/step2", token, `{"session":"1"}`, 422},
		{"/v1/card/read", token, `{"iType":3,"reader":"R"}`, 200},
		{"/v1/card/hsm/step1", token, `{"iType":4}`, 200},
		{"/v1/card/hsm/step2", token, `{"session":"1","pKey":"k"}`, 200},
	} {
		if code, out := do(t, "POST", base+tc.path, tc.tok, tc.body); code != tc.want {
			t.Errorf("%s %s: %d %v, want %d", tc.path, tc.body, code, out, tc.want)
		}
	}
	if len(f.got) != 2 || f.got[0] != (CardReadRequest{Reader: "R", IType: 3}) || f.got[1].IType != 4 {
		t.Errorf("reader asked %v", f.got)
	}
	_, bare := start(t, Options{})
	if code, _ := do(t, "POST", bare+"/v1/card/read", token, `{"iType":1}`); code != 501 {
		t.Errorf("no card reader: %d", code)
	}
}

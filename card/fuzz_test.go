package card_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sscagent/sscagent/card"
)

// replay answers each command with the next response cut from the fuzz input: one
// length byte, then that many bytes.
type replay struct{ b []byte }

func (r *replay) Transmit(context.Context, []byte) ([]byte, error) {
	if len(r.b) == 0 {
		return nil, errors.New("end of script")
	}
	n := int(r.b[0])
	r.b = r.b[1:]
	n = min(n, len(r.b))
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}

type fixedAuthority struct{}

func (fixedAuthority) Name() string { return "fixed" }
func (fixedAuthority) Authenticate(context.Context, *card.AuthRequest) (*card.AuthResponse, error) {
	return &card.AuthResponse{}, nil
}

// FuzzRead feeds a hostile card's answers to Read: it returns a result or an *Error,
// never panics, and a result always has a well-formed 卡识别码.
func FuzzRead(f *testing.F) {
	f.Add([]byte("\x02\x90\x00\x02\x6c\x40"))
	f.Add(append([]byte{0x02, 0x90, 0x00, 0x42}, append(make([]byte, 0x40), 0x90, 0x00)...))
	f.Add([]byte("\x02\x61\x10\x02\x6a\x82"))
	f.Fuzz(func(t *testing.T, b []byte) {
		atr := []byte{0x3B, 0x6D, 0, 0, 0, 'T', 'E', 'S', 'T', 0, 0, 0x35, 0x01, 0, 0, 0, 1}
		res, err := card.Read(context.Background(), &replay{b}, atr,
			card.Options{Authorities: []card.Authority{fixedAuthority{}}, AllowTestCards: true})
		if err != nil {
			var ce *card.Error
			if !errors.As(err, &ce) || ce.Code == card.CodeOK {
				t.Fatalf("error without a national code: %v", err)
			}
			return
		}
		if len(res.Basic.CardID) != 32 {
			t.Fatalf("result with 卡识别码 %q", res.Basic.CardID)
		}
		if _, err := res.IReadCardBas(card.UTF8); err != nil {
			t.Fatal(err)
		}
	})
}

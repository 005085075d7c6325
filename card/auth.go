package card

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/drivers/apdu"
)

// Challenge is one authentication exchange's two 8-byte values.
type Challenge struct {
	// Factor is the 过程因子: the random the session key is derived from.
	Factor [8]byte
	// Data is the 原始信息: the random that is encrypted under the session key.
	Data [8]byte
}

// AuthRequest is what an Authority needs to authenticate a card, as the national
// HSM Step 1 string carries it.
type AuthRequest struct {
	Algorithm     Algorithm
	CardID        string // 卡识别码, 32 hex digits
	ATRHistorical []byte
	// Internal is the INTERNAL AUTHENTICATE challenge sent to the card (R1 || R2).
	Internal Challenge
	// CardAnswer is the card's 8-byte answer to INTERNAL AUTHENTICATE.
	CardAnswer [8]byte
	// External is set for gen-3 cards: Factor is the card's GET CHALLENGE random and
	// Data a terminal random; the Authority computes the RKSSSE authentication data.
	External *Challenge
}

// Region is the 6-digit city code at the start of the 卡识别码.
func (r *AuthRequest) Region() string { return r.CardID[:6] }

// AuthResponse is an Authority's answer.
type AuthResponse struct {
	// Internal is what a genuine card answers to the internal challenge.
	Internal [8]byte
	// External is the authentication data for EXTERNAL AUTHENTICATE (gen 3).
	External [8]byte
	// APDUs counts the PSAM exchanges spent (0 for the HSM).
	APDUs int
}

// Authority confirms a card's internal authentication and computes the external
// authentication of gen-3 cards: a PSAM (psam.PSAM) or the platform's HSM in two steps
// (psam.HSM). Errors are *Error with the national code (-2201 ... -2204, -24, -SW of
// the PSAM); the codes of Code.HSMFallback send Read on to the next Authority.
type Authority interface {
	// Name names the authority in results and logs ("psam", "hsm").
	Name() string
	// Authenticate computes the expected answers for req.
	Authenticate(ctx context.Context, req *AuthRequest) (*AuthResponse, error)
}

// ErrAuthExpired is returned (wrapped) by an Authority whose exchange outlived its time
// box: the card's challenge may be spent, so Read restarts authentication from the
// challenges (HSM Step 1).
var ErrAuthExpired = errors.New("card authentication exchange expired")

// authenticate runs internal (and for gen 3, external) authentication with the first
// Authority that can, and returns its name and the PSAM exchanges spent.
func (s *session) authenticate(ctx context.Context) (string, int, error) {
	if len(s.o.Authorities) == 0 {
		return "", 0, &Error{Code: CodeNoPSAM, Op: "authenticate", Err: errors.New("no PSAM and no HSM configured")}
	}
	psamAPDUs := 0
	var prev *Error // the error that made Read fall back
	for i, auth := range s.o.Authorities {
		for attempt := 1; ; attempt++ {
			n, err := s.authenticateWith(ctx, auth)
			psamAPDUs += n
			if err == nil {
				return auth.Name(), psamAPDUs, nil
			}
			var ae *authorityError
			if !errors.As(err, &ae) {
				return "", psamAPDUs, err // the card's own failure: no fallback
			}
			if errors.Is(ae.err, ErrAuthExpired) && attempt < s.o.AuthAttempts && ctx.Err() == nil {
				continue // challenges may be spent: restart from step 1
			}
			e := AsError(auth.Name()+" authenticate", ae.err)
			if prev != nil && e.Prompt == PromptHSMUnavailable {
				// Report the code that sent Read to the HSM (-2201 ...), with the
				// HSM's prompt.
				e = &Error{Code: prev.Code, Prompt: e.Prompt, Op: e.Op, Err: e.Err}
			}
			if e.Code.HSMFallback() && i+1 < len(s.o.Authorities) {
				prev = e
				break
			}
			return "", psamAPDUs, e
		}
	}
	return "", psamAPDUs, prev // not reached: the last authority returns
}

// authorityError marks a failure of the Authority (as opposed to the card).
type authorityError struct{ err error }

func (e *authorityError) Error() string { return e.err.Error() }

func (e *authorityError) Unwrap() error { return e.err }

func (s *session) authenticateWith(ctx context.Context, auth Authority) (int, error) {
	req := &AuthRequest{Algorithm: s.basic.Algorithm, CardID: s.basic.CardID, ATRHistorical: s.basic.ATRHistorical}
	var rnd [24]byte
	if _, err := io.ReadFull(s.o.Rand, rnd[:]); err != nil {
		return 0, fmt.Errorf("card: challenge: %w", err)
	}
	copy(req.Internal.Factor[:], rnd[0:8])
	copy(req.Internal.Data[:], rnd[8:16])
	// INTERNAL AUTHENTICATE: 00 88 00 00 10 R1||R2 -> 8 bytes.
	cmd := apdu.Command{INS: 0x88, Data: append(req.Internal.Factor[:], req.Internal.Data[:]...), Ne: s.caseNe(8)}
	ans, err := s.ch.Do(ctx, cmd)
	if err != nil {
		return 0, AsError("internal authenticate", err)
	}
	if len(ans) != 8 {
		return 0, &Error{Code: CodeInternalAuth, Op: "internal authenticate",
			Err: fmt.Errorf("card answered %d bytes, want 8", len(ans))}
	}
	copy(req.CardAnswer[:], ans)
	if generation(s.basic.Version) == 3 {
		// GET CHALLENGE last: EXTERNAL AUTHENTICATE uses the card's current random.
		ch, err := s.ch.Do(ctx, apdu.Command{INS: 0x84, Ne: 8})
		if err != nil {
			return 0, AsError("get challenge", err)
		}
		if len(ch) != 8 {
			return 0, &Error{Code: CodeNoResponse, Op: "get challenge", Err: fmt.Errorf("challenge of %d bytes", len(ch))}
		}
		req.External = &Challenge{}
		copy(req.External.Factor[:], ch)
		copy(req.External.Data[:], rnd[16:24])
	}
	resp, err := auth.Authenticate(ctx, req)
	n := 0
	if resp != nil {
		n = resp.APDUs
	}
	if err != nil {
		return n, &authorityError{err}
	}
	if resp.Internal != req.CardAnswer {
		return n, &Error{Code: CodeInternalAuth, Op: "internal authenticate",
			Err: fmt.Errorf("the card's answer does not match the %s's", auth.Name())}
	}
	if req.External != nil {
		data := append(resp.External[:], req.External.Data[:]...)
		// EXTERNAL AUTHENTICATE with RKSSSE (card key 0A).
		if _, err := s.ch.Do(ctx, apdu.Command{INS: 0x82, P2: 0x0A, Data: data}); err != nil {
			return n, AsError("external authenticate", err)
		}
	}
	return n, nil
}

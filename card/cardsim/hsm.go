package cardsim

import (
	"context"
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/psam"
)

// HSM is the sandbox platform's encryption machine (加密机) for card internal
// authentication: it holds the national test roots and answers the national Step 1
// string with pKey (iReadCardBas_HSM_Step2 input). The zero value is ready.
type HSM struct{}

// ErrHSMInput: the Step 1 string is malformed or names an algorithm the HSM does not
// have. The platform answers it as a business rejection.
var ErrHSMInput = errors.New("cardsim: HSM cannot process the request")

// InternalAuth computes pKey for a Step 1 string: the internal authentication data a
// genuine card gives, and for gen-3 cards the RKSSSE external authentication data.
func (HSM) InternalAuth(step1 string) (pKey string, err error) {
	req, _, err := psam.ParseStep1(step1)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	if req.Algorithm != card.AlgDES && req.Algorithm != card.AlgSM4 {
		return "", fmt.Errorf("%w: algorithm %s", ErrHSMInput, req.Algorithm)
	}
	resp := &card.AuthResponse{}
	irk, err := CardKey(KeyIRK, req.Algorithm, req.Region(), req.ATRHistorical)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	if resp.Internal, err = psam.Authenticate(req.Algorithm, irk, req.Internal); err != nil {
		return "", fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	if req.External != nil {
		rk, err := CardKey(KeyRK, req.Algorithm, req.Region(), req.ATRHistorical)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrHSMInput, err)
		}
		if resp.External, err = psam.Authenticate(req.Algorithm, rk, *req.External); err != nil {
			return "", fmt.Errorf("%w: %w", ErrHSMInput, err)
		}
	}
	return psam.Step2Key(req, resp), nil
}

// Authenticator adapts an HSM (or anything with its InternalAuth method) to
// psam.InternalAuthenticator, for tests and the demo that call it in process instead of
// through the sandbox platform.
type Authenticator struct {
	HSM interface {
		InternalAuth(step1 string) (string, error)
	}
}

var _ psam.InternalAuthenticator = Authenticator{}

// InternalAuth implements psam.InternalAuthenticator.
func (a Authenticator) InternalAuth(ctx context.Context, step1 string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return a.HSM.InternalAuth(step1)
}

// PurchaseMACs computes the platform HSM's half of a DF04 purchase (the HSM variant of
// 7.2.5 c): MAC1, and the MAC2 and TAC the genuine card answers, from the card's DPK and
// DTK diversified from the national test roots.
func (HSM) PurchaseMACs(r platform.MedicalPurchase, termSeq uint32) (mac1, mac2, tac [4]byte, err error) {
	p, err := psam.ParseMedicalPurchase(r)
	if err != nil {
		return mac1, mac2, tac, fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	dpk, err := CardKey(KeyDPK, p.Algorithm, p.Region(), p.ATRHistorical)
	if err != nil {
		return mac1, mac2, tac, fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	dtk, err := CardKey(KeyDTK, p.Algorithm, p.Region(), p.ATRHistorical)
	if err != nil {
		return mac1, mac2, tac, fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	if mac1, mac2, err = psam.PurchaseMACs(p.Algorithm, dpk, p, termSeq); err != nil {
		return mac1, mac2, tac, fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	if tac, err = psam.PurchaseTAC(p.Algorithm, dtk, p, termSeq); err != nil {
		return mac1, mac2, tac, fmt.Errorf("%w: %w", ErrHSMInput, err)
	}
	return mac1, mac2, tac, nil
}

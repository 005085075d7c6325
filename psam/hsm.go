package psam

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/platform"
)

// InternalAuthenticator is the platform's card internal-auth service (持卡库 卡内部认证,
// the HSM behind iReadCardBas_HSM_Step1/Step2): it takes the Step 1 string and returns
// pKey, the Step 2 input. Errors follow platform.ClassOf: a rejection is final; a
// retryable or unknown outcome may be tried again with fresh challenges (the call only
// computes, it changes nothing).
type InternalAuthenticator interface {
	InternalAuth(ctx context.Context, step1 string) (pKey string, err error)
}

// HSM authenticates cards through the platform's HSM in the national two steps.
type HSM struct {
	// Auth is the platform call.
	Auth InternalAuthenticator
	// Timeout time-boxes one exchange; default 10s. When it expires, Authenticate
	// returns card.ErrAuthExpired and the read restarts from Step 1.
	Timeout time.Duration
	// DeviceNo is the 终端设备号 appended to the Step 1 string as its 9th field, as
	// implementations do; empty leaves it out.
	DeviceNo string
}

var _ card.Authority = (*HSM)(nil)

// Name implements card.Authority.
func (h *HSM) Name() string { return "hsm" }

// Authenticate implements card.Authority: Step 1 out, the platform's answer back,
// checked as Step 2 does.
func (h *HSM) Authenticate(ctx context.Context, req *card.AuthRequest) (*card.AuthResponse, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	step1 := Step1(req, h.DeviceNo)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	pKey, err := h.Auth.InternalAuth(cctx, step1)
	expired := cctx.Err() != nil
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the read itself was cancelled
		}
		switch c := platform.ClassOf(err); {
		case expired, c == platform.ClassRetryable, c == platform.ClassUnknown:
			return nil, &card.Error{Code: card.CodeNoPSAM, Prompt: card.PromptHSMUnavailable, Op: "hsm step 1",
				Err: fmt.Errorf("%w: %w", card.ErrAuthExpired, err)}
		case c == platform.ClassRejected:
			return nil, &card.Error{Code: card.CodeInternalAuth, Prompt: card.PromptHSMRejected, Op: "hsm step 1", Err: err}
		default: // unverified: never success, and an alarm
			return nil, &card.Error{Code: card.CodeNoPSAM, Prompt: card.PromptHSMUnavailable, Op: "hsm step 1", Err: err}
		}
	}
	resp, err := ParseStep2(pKey, req)
	if err != nil {
		return nil, &card.Error{Code: card.CodeInvalidInput, Prompt: card.PromptHSMUnavailable, Op: "hsm step 2", Err: err}
	}
	return resp, nil
}

// Step1 formats the iReadCardBas_HSM_Step1 output (读写机具规范 9.1.2), fields followed
// by '|':
//
//	发卡地区码|ATR历史字节|算法标识|卡识别码|内部认证过程因子|内部认证原始信息|外部认证过程因子|外部认证原始信息|[终端设备号|]
//
// The external fields are empty for gen 1/2 cards.
func Step1(req *card.AuthRequest, deviceNo string) string {
	var b strings.Builder
	field := func(s string) { b.WriteString(s); b.WriteByte('|') }
	field(req.Region())
	field(apdu.HexUpper(req.ATRHistorical))
	field(req.Algorithm.String())
	field(req.CardID)
	field(apdu.HexUpper(req.Internal.Factor[:]))
	field(apdu.HexUpper(req.Internal.Data[:]))
	if req.External != nil {
		field(apdu.HexUpper(req.External.Factor[:]))
		field(apdu.HexUpper(req.External.Data[:]))
	} else {
		field("")
		field("")
	}
	if deviceNo != "" {
		field(deviceNo)
	}
	return b.String()
}

// ParseStep1 decodes a Step 1 string (the HSM side: the sandbox platform).
func ParseStep1(s string) (*card.AuthRequest, string, error) {
	f := strings.Split(s, "|")
	if len(f) < 9 || f[len(f)-1] != "" || len(f) > 10 {
		return nil, "", fmt.Errorf("psam: step 1 string has %d fields, want 8 or 9 each ending in '|'", len(f)-1)
	}
	req := &card.AuthRequest{CardID: strings.ToUpper(f[3])}
	if len(req.CardID) != 32 || !isDigits(req.CardID[:6]) || !isHex(req.CardID) {
		return nil, "", fmt.Errorf("psam: step 1 卡识别码 %q", f[3])
	}
	if f[0] != req.CardID[:6] {
		return nil, "", fmt.Errorf("psam: step 1 region %q does not match the 卡识别码", f[0])
	}
	hist, err := hex.DecodeString(f[1])
	if err == nil && len(hist) > 13 && (hist[0] == 0x3B || hist[0] == 0x3F) {
		// Some terminals send the whole ATR (domain.md §2.5): keep its historical bytes.
		if a, aerr := apdu.ParseATR(hist); aerr == nil {
			hist = a.Historical
		}
	}
	if err != nil || len(hist) == 0 || len(hist) > 15 {
		return nil, "", fmt.Errorf("psam: step 1 ATR historical bytes %q", f[1])
	}
	req.ATRHistorical = hist
	alg, err := hex.DecodeString(f[2])
	if err != nil || len(alg) != 1 {
		return nil, "", fmt.Errorf("psam: step 1 algorithm %q", f[2])
	}
	req.Algorithm = card.Algorithm(alg[0])
	if err := hex8(f[4], &req.Internal.Factor); err != nil {
		return nil, "", fmt.Errorf("psam: step 1 internal factor: %w", err)
	}
	if err := hex8(f[5], &req.Internal.Data); err != nil {
		return nil, "", fmt.Errorf("psam: step 1 internal data: %w", err)
	}
	switch {
	case f[6] == "" && f[7] == "":
	case f[6] != "" && f[7] != "":
		req.External = &card.Challenge{}
		if err := hex8(f[6], &req.External.Factor); err != nil {
			return nil, "", fmt.Errorf("psam: step 1 external factor: %w", err)
		}
		if err := hex8(f[7], &req.External.Data); err != nil {
			return nil, "", fmt.Errorf("psam: step 1 external data: %w", err)
		}
	default:
		return nil, "", errors.New("psam: step 1 has only one of the external fields")
	}
	device := ""
	if len(f) == 10 {
		device = f[8]
	}
	return req, device, nil
}

// Step2Key formats pKey, the platform's answer (iReadCardBas_HSM_Step2 input):
//
//	内部认证鉴别数据(16)内部认证原始信息(16)|外部认证鉴别数据(16)外部认证原始信息(16)|
//
// with the external part empty for gen 1/2 cards.
func Step2Key(req *card.AuthRequest, resp *card.AuthResponse) string {
	s := apdu.HexUpper(resp.Internal[:]) + apdu.HexUpper(req.Internal.Data[:]) + "|"
	if req.External != nil {
		s += apdu.HexUpper(resp.External[:]) + apdu.HexUpper(req.External.Data[:])
	}
	return s + "|"
}

// ParseStep2 checks pKey against the request it answers (each 原始信息 must echo the
// challenge sent) and returns the authentication data.
func ParseStep2(pKey string, req *card.AuthRequest) (*card.AuthResponse, error) {
	f := strings.Split(pKey, "|")
	if len(f) != 3 || f[2] != "" {
		return nil, fmt.Errorf("psam: pKey has %d fields, want 2 each ending in '|'", len(f)-1)
	}
	resp := &card.AuthResponse{}
	var echo [8]byte
	if len(f[0]) != 32 {
		return nil, fmt.Errorf("psam: pKey internal part of %d characters, want 32", len(f[0]))
	}
	if err := hex8(f[0][:16], &resp.Internal); err != nil {
		return nil, fmt.Errorf("psam: pKey internal authentication data: %w", err)
	}
	if err := hex8(f[0][16:], &echo); err != nil || echo != req.Internal.Data {
		return nil, errors.New("psam: pKey internal 原始信息 does not echo the challenge")
	}
	switch {
	case req.External == nil && f[1] == "":
	case req.External == nil:
		return nil, errors.New("psam: pKey has an external part for a card without external authentication")
	case len(f[1]) != 32:
		return nil, fmt.Errorf("psam: pKey external part of %d characters, want 32", len(f[1]))
	default:
		if err := hex8(f[1][:16], &resp.External); err != nil {
			return nil, fmt.Errorf("psam: pKey external authentication data: %w", err)
		}
		if err := hex8(f[1][16:], &echo); err != nil || echo != req.External.Data {
			return nil, errors.New("psam: pKey external 原始信息 does not echo the challenge")
		}
	}
	return resp, nil
}

func hex8(s string, dst *[8]byte) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		return fmt.Errorf("%q is not 16 hex digits", s)
	}
	copy(dst[:], b)
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// PlatformHSM is the platform client's card internal-auth service (持卡库 卡内部认证,
// platform.Client.CardInternalAuth) as an InternalAuthenticator.
type PlatformHSM struct {
	// Client is the platform client (or anything with its CardInternalAuth method).
	Client interface {
		CardInternalAuth(ctx context.Context, r platform.InternalAuthRequest) (platform.InternalAuthResult, error)
	}
	// DeviceNo is the 终端设备号 sent with the request (cards.deviceNo).
	DeviceNo string
}

var _ InternalAuthenticator = PlatformHSM{}

// InternalAuth implements InternalAuthenticator.
func (h PlatformHSM) InternalAuth(ctx context.Context, step1 string) (string, error) {
	r, err := h.Client.CardInternalAuth(ctx, platform.InternalAuthRequest{Step1: step1, DeviceNo: h.DeviceNo})
	if err != nil {
		return "", err
	}
	return r.PKey, nil
}

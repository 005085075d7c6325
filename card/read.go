package card

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sscagent/sscagent/drivers/apdu"
)

// SSSEName is the DF name of the SSSE application: GBK "sx1.sh.社会保障".
var SSSEName = []byte{0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF}

// Options configures Read. The zero value reads nothing: it has no Authority, so it
// fails with -2201 unless SkipAuth is set.
type Options struct {
	// Authorities are tried in order; an Authority failing with a fallback code
	// (Code.HSMFallback) hands over to the next (PSAM, then HSM).
	Authorities []Authority
	// SkipAuth reads without internal authentication, for diagnostics and card
	// emulators without the national keys: Result.Authenticated is false, and gen-3
	// cards refuse EF06 (6982).
	SkipAuth bool
	// AllowTestCards accepts the sandbox's virtual cards (terminal.test).
	AllowTestCards bool
	// TerminalNo is the 终端机编号 (PSAM file 0016); empty means "000000000000".
	TerminalNo string
	// DeviceNo is the 终端设备号 for the 11th field.
	DeviceNo string
	// AuthAttempts bounds the restarts of one Authority after ErrAuthExpired. Default 2.
	AuthAttempts int
	// Rand is the source of the terminal's challenges; default crypto/rand.
	Rand io.Reader
}

// IsTestATR reports whether historical bytes mark a test card or PSAM of the sandbox:
// T2-T5 are "TEST" (see docs/card.md). Production terminals refuse them.
func IsTestATR(hist []byte) bool {
	return len(hist) >= 5 && string(hist[1:5]) == "TEST"
}

// session is one read of one card.
type session struct {
	ch    *apdu.Channel
	t0    bool // the card speaks T=0: case 4 commands go without Le and use 61xx
	o     Options
	basic Basic
	// tier is the record reading method that worked: 0 "P1 to last" by SFI, 1 one
	// record at a time by identifier and SFI, 2 SELECT then by identifier.
	tier int
}

// Read reads the card behind t, whose answer to reset is atr, as iReadCardBas does, and
// returns the result or an *Error with the national code.
func Read(ctx context.Context, t apdu.Transmitter, atr []byte, o Options) (*Result, error) {
	start := time.Now()
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.AuthAttempts <= 0 {
		o.AuthAttempts = 2
	}
	s := &session{ch: apdu.NewChannel(t, apdu.ChannelOptions{}), o: o}
	res := &Result{TerminalNo: o.TerminalNo, DeviceNo: o.DeviceNo}
	if res.TerminalNo == "" {
		res.TerminalNo = noTerminal
	}
	err := s.read(ctx, atr, res)
	res.APDUs = s.ch.Exchanges()
	res.Duration = time.Since(start)
	if err != nil {
		return nil, AsError("read", err)
	}
	res.Basic = s.basic
	return res, nil
}

func (s *session) read(ctx context.Context, atr []byte, res *Result) error {
	a, err := apdu.ParseATR(atr)
	if err != nil {
		return &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: "answer to reset", Err: err}
	}
	s.t0 = len(a.Protocols) > 0 && a.Protocols[0] == 0
	s.basic.ATRHistorical = bytes.Clone(a.Historical)
	if IsTestATR(a.Historical) && !s.o.AllowTestCards {
		return &Error{Code: CodeWrongCardType, Prompt: PromptTestCard, Op: "answer to reset",
			Err: errors.New("test card refused: terminal.test is off")}
	}
	alg, err := s.selectSSSE(ctx)
	if err != nil {
		return err
	}
	recs, err := s.readFile(ctx, SFIEF05, 0xEF05, ef05)
	if err != nil {
		return err
	}
	if err := s.decodeEF05(recs); err != nil {
		return err
	}
	if alg == 0 {
		// No 9F0C in the FCI: Beijing (11xxxx) cards use SSF33, all others DES
		// (读写机具规范 10.1).
		alg = AlgDES
		if strings.HasPrefix(s.basic.CardID, "11") {
			alg = AlgSSF33
		}
	}
	s.basic.Algorithm = alg
	if !s.o.SkipAuth {
		by, psamAPDUs, err := s.authenticate(ctx)
		res.PSAMAPDUs = psamAPDUs
		if err != nil {
			return err
		}
		res.Authenticated, res.AuthBy = true, by
	}
	recs, err = s.readFile(ctx, SFIEF06, 0xEF06, ef06)
	if err != nil {
		return err
	}
	return s.decodeEF06(recs)
}

// caseNe returns the Ne of a command that carries data and expects an answer: none on
// T=0 (the card answers 61xx and the channel fetches it), n otherwise.
func (s *session) caseNe(n int) int {
	if s.t0 {
		return 0
	}
	return n
}

// selectSSSE selects the application and returns the algorithm its FCI names (0 when
// the FCI does not say).
func (s *session) selectSSSE(ctx context.Context) (Algorithm, error) {
	cmd := apdu.Command{INS: 0xA4, P1: 0x04, Data: SSSEName, Ne: s.caseNe(apdu.MaxShort)}
	r, err := s.ch.Send(ctx, cmd)
	if err != nil {
		return 0, AsError("select SSSE", err)
	}
	switch {
	case r.SW == apdu.SWOK:
	case r.SW == apdu.SWFuncNotSupported || r.SW == apdu.SWAppLocked:
		// The application exists but is blocked.
		return 0, &Error{Code: SWCode(r.SW), Op: "select SSSE", Err: r.Err(cmd)}
	default:
		return 0, &Error{Code: CodeWrongCardType, Op: "select SSSE",
			Err: fmt.Errorf("no social security application: %w", r.Err(cmd))}
	}
	v, ok, err := apdu.FindBER(r.Data, 0x6F, 0xA5, 0x9F0C)
	if err != nil || !ok {
		return 0, nil // an FCI without issuer data: the region rule decides
	}
	if alg, ok, err := apdu.FindBER(v, 0x86); err == nil && ok && len(alg) == 1 {
		switch a := Algorithm(alg[0]); a {
		case AlgDES, AlgSSF33, AlgSM4:
			return a, nil
		}
	}
	return 0, nil
}

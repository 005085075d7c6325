package card

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/mask"
)

// SSSEName is the DF name of the SSSE application: GBK "sx1.sh.社会保障".
var SSSEName = []byte{0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF}

// Short file identifiers and record layouts of SSSE/EF05 and EF06 (card file structure
// V2.0, 表9): each record is SIMPLE-TLV with the record identifier as tag.
const (
	SFIEF05 = 0x05
	SFIEF06 = 0x06
)

// Record identifiers (tags).
const (
	TagCardID     = 0x01 // 卡识别码, cn 16
	TagCardType   = 0x02 // 卡的类别, an 1
	TagVersion    = 0x03 // 规范版本, an 4
	TagInitOrg    = 0x04 // 初始化机构编号, cn 12
	TagIssueDate  = 0x05 // 发卡日期, cn 4
	TagExpiryDate = 0x06 // 卡有效期, cn 4
	TagCardNo     = 0x07 // 卡号, an 9
	TagSSN        = 0x08 // 社会保障号码, an 18
	TagName       = 0x09 // 姓名, an 30 (GBK)
	TagSex        = 0x0A // 性别, an 1
	TagNation     = 0x0B // 民族, cn 1
	TagBirthPlace = 0x0C // 出生地, cn 3
	TagBirthDate  = 0x0D // 出生日期, cn 4
	TagNameExt    = 0x4E // 姓名扩展, an 20 (GBK)
)

// record is one record of a file: its identifier and the largest value length.
type record struct {
	tag      byte
	max      int
	required bool
}

var (
	ef05 = []record{{TagCardID, 16, true}, {TagCardType, 1, false}, {TagVersion, 4, true}, {TagInitOrg, 12, false},
		{TagIssueDate, 4, true}, {TagExpiryDate, 4, true}, {TagCardNo, 9, true}}
	ef06 = []record{{TagSSN, 18, true}, {TagName, 30, true}, {TagNameExt, 20, false}, {TagSex, 1, false},
		{TagNation, 1, false}, {TagBirthPlace, 3, false}, {TagBirthDate, 4, false}}
)

// fileSize is the size of a "P1 to last" answer holding every record: 0x40 for EF05 and
// 0x5B for EF06, the Le real terminals send.
func fileSize(rs []record) int {
	n := 0
	for _, r := range rs {
		n += 2 + r.max
	}
	return n
}

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

// readFile reads the records of one SSSE file with as few commands as the card allows.
func (s *session) readFile(ctx context.Context, sfi byte, fid uint16, rs []record) (map[byte][]byte, error) {
	op := fmt.Sprintf("read EF%02X", sfi)
	if s.tier == 0 {
		cmd := apdu.Command{INS: 0xB2, P1: 0x01, P2: sfi<<3 | 0x05, Ne: fileSize(rs)}
		r, err := s.ch.Send(ctx, cmd)
		if err != nil {
			return nil, AsError(op, err)
		}
		if r.SW == apdu.SWOK {
			return s.collect(op, r.Data, rs)
		}
		if !fallbackRead(r.SW) {
			return nil, &Error{Code: SWCode(r.SW), Op: op, Err: r.Err(cmd)}
		}
		s.tier = 1
	}
	if s.tier == 2 {
		if err := s.selectEF(ctx, op, fid); err != nil {
			return nil, err
		}
	}
	out := make(map[byte][]byte, len(rs))
	for _, rec := range rs {
		p2 := sfi << 3 // by identifier, first occurrence
		if s.tier == 2 {
			p2 = 0
		}
		cmd := apdu.Command{INS: 0xB2, P1: rec.tag, P2: p2, Ne: 2 + rec.max}
		r, err := s.ch.Send(ctx, cmd)
		if err != nil {
			return nil, AsError(op, err)
		}
		if r.SW != apdu.SWOK && s.tier == 1 && fallbackRead(r.SW) && r.SW != apdu.SWRecordNotFound {
			// Identifier reads by SFI refused too: select the file, then read.
			s.tier = 2
			return s.readFile(ctx, sfi, fid, rs)
		}
		if r.SW == apdu.SWRecordNotFound && !rec.required {
			continue
		}
		if r.SW != apdu.SWOK {
			return nil, &Error{Code: SWCode(r.SW), Op: op, Err: r.Err(cmd)}
		}
		got, err := s.collect(op, r.Data, []record{rec})
		if err != nil {
			return nil, err
		}
		if v, ok := got[rec.tag]; ok {
			out[rec.tag] = v
		}
	}
	return s.check(op, out, rs)
}

// fallbackRead reports whether a status word to "P1 to last" (or to reading by SFI)
// means the card does not support that form, rather than a real failure.
func fallbackRead(sw apdu.SW) bool {
	switch sw {
	case apdu.SWWrongP1P2, apdu.SWFuncNotSupported, apdu.SWINSNotSupported, apdu.SWWrongOffset,
		apdu.SWRecordNotFound, apdu.SWNoCurrentEF, apdu.SWIncompatibleFile, apdu.SWWrongLength:
		return true
	}
	return false
}

func (s *session) selectEF(ctx context.Context, op string, fid uint16) error {
	cmd := apdu.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}}
	r, err := s.ch.Send(ctx, cmd)
	if err != nil {
		return AsError(op, err)
	}
	if r.SW != apdu.SWOK && r.SW.SW1() != 0x61 {
		return &Error{Code: SWCode(r.SW), Op: op, Err: r.Err(cmd)}
	}
	return nil
}

// collect parses concatenated records and keeps the ones of rs.
func (s *session) collect(op string, data []byte, rs []record) (map[byte][]byte, error) {
	tlvs, err := apdu.ParseSimpleTLV(data)
	if err != nil {
		return nil, &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: op, Err: err}
	}
	out := make(map[byte][]byte, len(rs))
	for _, t := range tlvs {
		for _, r := range rs {
			if byte(t.Tag) == r.tag {
				if len(t.Value) > r.max {
					return nil, &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: op,
						Err: fmt.Errorf("record %02X of %d bytes, at most %d", r.tag, len(t.Value), r.max)}
				}
				if _, dup := out[r.tag]; !dup {
					out[r.tag] = t.Value
				}
			}
		}
	}
	if len(rs) > 1 {
		return s.check(op, out, rs)
	}
	return out, nil
}

func (s *session) check(op string, got map[byte][]byte, rs []record) (map[byte][]byte, error) {
	for _, r := range rs {
		if _, ok := got[r.tag]; !ok && r.required {
			return nil, &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: op,
				Err: fmt.Errorf("record %02X missing", r.tag)}
		}
	}
	return got, nil
}

func (s *session) decodeEF05(recs map[byte][]byte) error {
	id := recs[TagCardID]
	cardID := strings.ToUpper(hex.EncodeToString(id))
	if len(id) != 16 || !digits(cardID[:6]) || cardID[6:16] != "D156000005" {
		return &Error{Code: CodeCardIDFormat, Op: "read EF05",
			Err: fmt.Errorf("卡识别码 %q: want 6 digits, D156000005, serial and authentication code", cardID)}
	}
	b := &s.basic
	b.CardID = cardID
	b.CardType = an(recs[TagCardType])
	b.Version = an(recs[TagVersion])
	b.InitOrg = cn(recs[TagInitOrg])
	b.IssueDate = cn(recs[TagIssueDate])
	b.ExpiryDate = cn(recs[TagExpiryDate])
	no := an(recs[TagCardNo])
	if len(no) > 9 {
		no = no[:9] // "read only the first 9 characters"
	}
	b.CardNo = mask.Of(mask.KindBankCard, no)
	if c, ok := CardNoCheck(prefix(no, 8)); ok && len(no) == 9 {
		b.CardNoChecked = no[8] == c
	}
	return nil
}

func (s *session) decodeEF06(recs map[byte][]byte) error {
	b := &s.basic
	b.SSN = mask.Of(mask.KindIDNumber, an(recs[TagSSN]))
	name, err := decodeGBK(append(bytes.Clone(trim(recs[TagName])), trim(recs[TagNameExt])...))
	if err != nil {
		return &Error{Code: CodeWrongCardType, Prompt: PromptCardData, Op: "read EF06", Err: err}
	}
	b.Name = mask.Of(mask.KindName, name)
	b.Sex = an(recs[TagSex])
	b.Nation = cn(recs[TagNation])
	b.BirthPlace = mask.Of(mask.KindAddress, cn(recs[TagBirthPlace]))
	b.BirthDate = mask.Of(mask.KindDate, cn(recs[TagBirthDate]))
	return nil
}

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

// an decodes an alphanumeric field: bytes with the 00 (or FF) padding removed.
func an(b []byte) string { return string(trim(b)) }

// trim removes trailing 00 and FF bytes (byte-wise: the value may be GBK, so the
// UTF-8-aware bytes.TrimRight would eat GBK bytes too).
func trim(b []byte) []byte {
	n := len(b)
	for n > 0 && (b[n-1] == 0x00 || b[n-1] == 0xFF) {
		n--
	}
	return b[:n]
}

// cn decodes a compressed numeric (BCD) field: its hex digits without the F padding.
func cn(b []byte) string {
	return strings.TrimRight(strings.ToUpper(hex.EncodeToString(b)), "F")
}

func decodeGBK(b []byte) (string, error) {
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes(b)
	if err != nil {
		return "", fmt.Errorf("name is not GBK: %w", err)
	}
	return string(s), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func prefix(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

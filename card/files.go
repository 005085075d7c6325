package card

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/mask"
)

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

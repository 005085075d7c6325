package card

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/internal/mask"
)

// Algorithm is the card's block cipher, from the SSSE FCI (9F0C ... 86 01 xx).
type Algorithm byte

// Algorithms of the card spec.
const (
	AlgDES   Algorithm = 0x01 // DES / 3DES, 8-byte blocks
	AlgSSF33 Algorithm = 0x02 // SSF33, 16-byte blocks (PSAM only)
	AlgSM4   Algorithm = 0x03 // SM4, 16-byte blocks (gen-3 cards)
)

// String is the two-digit algorithm identifier of the national strings ("03").
func (a Algorithm) String() string { return fmt.Sprintf("%02X", byte(a)) }

// Name is a readable name ("SM4").
func (a Algorithm) Name() string {
	switch a {
	case AlgDES:
		return "DES"
	case AlgSSF33:
		return "SSF33"
	case AlgSM4:
		return "SM4"
	}
	return "alg-" + a.String()
}

// BlockSize is 8 for DES and 16 for SSF33 and SM4.
func (a Algorithm) BlockSize() int {
	if a == AlgDES {
		return 8
	}
	return 16
}

// MarshalText writes the readable name.
func (a Algorithm) MarshalText() ([]byte, error) { return []byte(a.Name()), nil }

// Basic is the card's basic information: SSSE/EF05 (issuer data) and EF06 (holder).
// Personal fields are mask.Values: they print, log and marshal masked; Clear gives the
// real value. Text fields are UTF-8 with the card's 00/FF padding removed; cn (BCD)
// fields are digit strings without the F padding.
type Basic struct {
	// EF05.
	CardID     string // 卡识别码: 32 hex digits (city code, D156000005, 卡流水号, 卡认证码)
	CardType   string // 卡的类别: "1" preschool, "2" student, "3" adult, "4" senior
	Version    string // 规范版本: "1.00", "2.00", "3.00"
	InitOrg    string // 初始化机构编号: 24 digits
	IssueDate  string // 发卡日期: YYYYMMDD
	ExpiryDate string // 卡有效期: YYYYMMDD
	CardNo     mask.Value
	// CardNoChecked reports whether 卡号's check character (Appendix A) matches; a
	// mismatch is reported, never refused (field cards exist with a wrong one).
	CardNoChecked bool

	// EF06.
	SSN        mask.Value // 社会保障号码 (18 characters)
	Name       mask.Value // 姓名 + 姓名扩展, decoded from GBK
	Sex        string     // 性别: "1" male, "2" female, "9" unspecified
	Nation     string     // 民族: 2-digit GB 3304 code
	BirthPlace mask.Value // 出生地: 6-digit GB/T 2260 code
	BirthDate  mask.Value // 出生日期: YYYYMMDD

	// From the card itself.
	ATRHistorical []byte    // historical bytes of the ATR (卡复位信息)
	Algorithm     Algorithm // from the FCI or the region rule
}

// Region is the 发卡地区行政区划代码: the first 6 digits of the 卡识别码.
func (b *Basic) Region() string {
	if len(b.CardID) < 6 {
		return ""
	}
	return b.CardID[:6]
}

// Generation is 1, 2 or 3 from the first character of 规范版本 (empty means 1).
func (b *Basic) Generation() int {
	return generation(b.Version)
}

func generation(version string) int {
	switch {
	case strings.HasPrefix(version, "3"):
		return 3
	case strings.HasPrefix(version, "2"):
		return 2
	}
	return 1
}

// Encoding of the name in the 11-field string.
type Encoding uint8

// Encodings: UTF-8 for Go and web consumers, GBK as the national DLL's C string.
const (
	UTF8 Encoding = iota
	GBK
)

// Result is a completed card read.
type Result struct {
	Basic Basic
	// Authenticated: internal authentication succeeded (the card holds a genuine IRK),
	// and for gen-3 cards the external authentication that unlocked EF06 too.
	Authenticated bool
	// AuthBy names the Authority that confirmed it ("psam", "hsm"); empty when not
	// authenticated.
	AuthBy string
	// TerminalNo is the 终端机编号 (PSAM file 0016, 12 digits), "000000000000" without
	// a PSAM.
	TerminalNo string
	// DeviceNo is the 终端设备号 (configuration), possibly empty.
	DeviceNo string
	// Reader is the reader the card was read in.
	Reader string
	// APDUs counts the commands exchanged with the card (GET RESPONSE and re-issues
	// included); PSAMAPDUs those exchanged with the PSAM for this read.
	APDUs, PSAMAPDUs int
	// Duration is the wall time of the read.
	Duration time.Duration
}

// IReadCardBas is the national 11-field iReadCardBas output (读写终端接口 3.3), each
// field followed by '|':
//
//	发卡地区行政区划代码|社会保障号码|卡号|卡识别码|姓名|卡复位信息|规范版本|发卡日期|卡有效期|终端机编号|终端设备号|
//
// The fields are unmasked, as business systems expect them. The name is UTF-8, or GBK
// like the DLL's C string. A field that cannot be encoded in GBK is an error.
func (r *Result) IReadCardBas(enc Encoding) ([]byte, error) {
	b := &r.Basic
	name := b.Name.Clear()
	if enc == GBK {
		g, err := simplifiedchinese.GBK.NewEncoder().String(name)
		if err != nil {
			return nil, fmt.Errorf("card: name cannot be written in GBK: %w", err)
		}
		name = g
	}
	var out bytes.Buffer
	for _, f := range []string{
		b.Region(), b.SSN.Clear(), b.CardNo.Clear(), b.CardID, name, apdu.HexUpper(b.ATRHistorical),
		b.Version, b.IssueDate, b.ExpiryDate, r.TerminalNo, r.DeviceNo,
	} {
		out.WriteString(f)
		out.WriteByte('|')
	}
	return out.Bytes(), nil
}

// noTerminal is the 终端机编号 without a PSAM.
const noTerminal = "000000000000"

// resultJSON is the masked JSON form of a Result (CLI output, events, local API).
type resultJSON struct {
	Region        string     `json:"region"`
	CardID        string     `json:"cardId"`
	CardNo        mask.Value `json:"cardNo"`
	CardNoChecked bool       `json:"cardNoChecked"`
	CardType      string     `json:"cardType"`
	Version       string     `json:"version"`
	Generation    int        `json:"generation"`
	Algorithm     Algorithm  `json:"algorithm"`
	IssueDate     string     `json:"issueDate"`
	ExpiryDate    string     `json:"expiryDate"`
	SSN           mask.Value `json:"ssn"`
	Name          mask.Value `json:"name"`
	Sex           string     `json:"sex"`
	Nation        string     `json:"nation"`
	BirthPlace    mask.Value `json:"birthPlace"`
	BirthDate     mask.Value `json:"birthDate"`
	ATR           string     `json:"atrHistorical"`
	Authenticated bool       `json:"authenticated"`
	AuthBy        string     `json:"authBy,omitempty"`
	TerminalNo    string     `json:"terminalNo"`
	DeviceNo      string     `json:"deviceNo,omitempty"`
	Reader        string     `json:"reader,omitempty"`
	APDUs         int        `json:"apdus"`
	PSAMAPDUs     int        `json:"psamApdus"`
	DurationMS    float64    `json:"durationMs"`
}

// MarshalJSON writes the result with personal data masked (spec 8.3.2): ID number and
// name by their rules, birth date and place partly, the 卡认证码 part of the 卡识别码
// hidden.
func (r *Result) MarshalJSON() ([]byte, error) {
	b := &r.Basic
	return json.Marshal(resultJSON{
		Region: b.Region(), CardID: maskCardID(b.CardID), CardNo: b.CardNo, CardNoChecked: b.CardNoChecked,
		CardType: b.CardType, Version: b.Version, Generation: b.Generation(), Algorithm: b.Algorithm,
		IssueDate: b.IssueDate, ExpiryDate: b.ExpiryDate, SSN: b.SSN, Name: b.Name, Sex: b.Sex, Nation: b.Nation,
		BirthPlace: b.BirthPlace, BirthDate: b.BirthDate, ATR: apdu.HexUpper(b.ATRHistorical),
		Authenticated: r.Authenticated, AuthBy: r.AuthBy, TerminalNo: r.TerminalNo, DeviceNo: r.DeviceNo,
		Reader: r.Reader, APDUs: r.APDUs, PSAMAPDUs: r.PSAMAPDUs,
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
	})
}

// maskCardID hides the 卡认证码 (the last 8 hex digits) of a 卡识别码.
func maskCardID(id string) string {
	if len(id) != 32 {
		return mask.Secret(id)
	}
	return id[:24] + "********"
}

// CardNoCheck computes the check character of a 卡号's 8-character body (card spec
// Appendix A): letters count A=10 ... Z=35, weights 3 7 9 10 5 8 4 2, C = 11 - (sum mod
// 11), 10 is written 'X' and 11 '0'. It reports false for a body that is not 8
// digits or capital letters.
func CardNoCheck(body string) (byte, bool) {
	if len(body) != 8 {
		return 0, false
	}
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return 0, false
		}
		sum += v * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', true
	case 11:
		return '0', true
	default:
		return byte('0' + c), true
	}
}

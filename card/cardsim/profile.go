package cardsim

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/encoding/simplifiedchinese"
	"gopkg.in/yaml.v3"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
)

// Profile describes one virtual social security card: its ATR, algorithm, records and
// behaviour. Profiles are YAML files (testdata/*.yaml are the shared test identities).
type Profile struct {
	// Label names the profile in logs ("张三 gen-3").
	Label string `yaml:"label"`
	// ATR in hex. Its historical bytes give the card's level-3 key factor, and T2-T5
	// "TEST" mark it as a test card.
	ATR string `yaml:"atr"`
	// Algorithm is DES or SM4.
	Algorithm string `yaml:"algorithm"`
	// NoSSSE makes a card without the social security application (a bank card):
	// SELECT SSSE answers 6A82.
	NoSSSE bool `yaml:"noSSSE"`
	// OmitFCIAlgorithm leaves 9F0C out of the FCI, so the reader must use the region
	// rule.
	OmitFCIAlgorithm bool      `yaml:"omitFCIAlgorithm"`
	EF05             EF05      `yaml:"ef05"`
	EF06             EF06      `yaml:"ef06"`
	Behaviour        Behaviour `yaml:"behaviour"`
	// Medical is DF04's purse (PIN, personal account).
	Medical Medical `yaml:"medical"`
}

// EF05 holds the issuer data (发卡机构数据), as text.
type EF05 struct {
	CardID     string `yaml:"cardId"`     // 卡识别码, 32 hex digits
	CardType   string `yaml:"cardType"`   // 卡的类别, 1 character
	Version    string `yaml:"version"`    // 规范版本, up to 4 characters
	InitOrg    string `yaml:"initOrg"`    // 初始化机构编号, 24 digits
	IssueDate  string `yaml:"issueDate"`  // 发卡日期, YYYYMMDD
	ExpiryDate string `yaml:"expiryDate"` // 卡有效期, YYYYMMDD
	CardNo     string `yaml:"cardNo"`     // 卡号, 9 characters
}

// EF06 holds the holder's basic information (持卡人基本信息), as text.
type EF06 struct {
	SSN        string `yaml:"ssn"`        // 社会保障号码, 18 characters
	Name       string `yaml:"name"`       // 姓名 (UTF-8; stored in GBK, overflow in 姓名扩展)
	Sex        string `yaml:"sex"`        // 性别, 1 character
	Nation     string `yaml:"nation"`     // 民族, 2 digits
	BirthPlace string `yaml:"birthPlace"` // 出生地, 6 digits
	BirthDate  string `yaml:"birthDate"`  // 出生日期, YYYYMMDD
}

// Behaviour selects how the card answers, to exercise the reader's fallbacks.
type Behaviour struct {
	// NoP1ToLast refuses READ RECORD "P1 to last" (6A86), as some cards do.
	NoP1ToLast bool `yaml:"noP1ToLast"`
	// NoSFI refuses READ RECORD by short file identifier (6A86): the terminal must
	// SELECT the file first.
	NoSFI bool `yaml:"noSFI"`
	// LooseLe answers READ RECORD whatever the Le (most cards answer 6Cxx to a wrong
	// one).
	LooseLe bool `yaml:"looseLe"`
	// ExternalTries is the RKSSSE try counter. Default 3.
	ExternalTries int `yaml:"externalTries"`
	// Counterfeit gives the card an IRK that is not derived from the root: internal
	// authentication fails (-21), as for a cloned card.
	Counterfeit bool `yaml:"counterfeit"`
}

// A profile's records, built once.
type records struct {
	atr  []byte
	hist []byte
	alg  card.Algorithm
	ef05 [][]byte // SIMPLE-TLV records in record-number order
	ef06 [][]byte
	gen  int
}

// LoadProfile reads a profile file.
func LoadProfile(file string) (*Profile, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cardsim: %w", err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("cardsim: %s: %w", file, err)
	}
	return p, nil
}

// ParseProfile decodes and checks a profile.
func ParseProfile(b []byte) (*Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if _, err := p.build(); err != nil {
		return nil, err
	}
	return &p, nil
}

//go:embed testdata/*.yaml
var shipped embed.FS

// Shipped returns a profile shipped with sscsim by name: "zhangsan" (张三, gen 3, SM4),
// "lisi" (李四, gen 2, 3DES), "zhaoliu" (赵六, gen 3, a card reported lost), "bankcard"
// (no social security application).
func Shipped(name string) (*Profile, error) {
	b, err := shipped.ReadFile("testdata/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("cardsim: no shipped profile %q (have %s)", name, strings.Join(ShippedNames(), ", "))
	}
	return ParseProfile(b)
}

// ShippedNames lists the shipped profiles.
func ShippedNames() []string {
	es, _ := shipped.ReadDir("testdata")
	var out []string
	for _, e := range es {
		out = append(out, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	sort.Strings(out)
	return out
}

// LoadProfileOrShipped loads a profile file, or a shipped profile when name has no
// path separator and no extension ("zhangsan").
func LoadProfileOrShipped(name string) (*Profile, error) {
	if !strings.ContainsAny(name, `/\.`) {
		return Shipped(name)
	}
	return LoadProfile(name)
}

func (p *Profile) build() (*records, error) {
	r := &records{}
	var err error
	if r.atr, err = hex.DecodeString(p.ATR); err != nil {
		return nil, fmt.Errorf("atr: %w", err)
	}
	a, err := apdu.ParseATR(r.atr)
	if err != nil {
		return nil, fmt.Errorf("atr: %w", err)
	}
	r.hist = a.Historical
	switch strings.ToUpper(p.Algorithm) {
	case "DES", "3DES":
		r.alg = card.AlgDES
	case "SM4":
		r.alg = card.AlgSM4
	default:
		return nil, fmt.Errorf("algorithm must be DES or SM4, got %q", p.Algorithm)
	}
	if p.NoSSSE {
		return r, nil
	}
	if len(r.hist) != 13 {
		return nil, fmt.Errorf("atr: a social security card has 13 historical bytes, got %d", len(r.hist))
	}
	e5, e6 := p.EF05, p.EF06
	var errs []error
	check := func(name string) func([]byte, error) []byte {
		return func(b []byte, err error) []byte {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			return b
		}
	}
	id := check("ef05.cardId")(cnField(e5.CardID, 16))
	if len(e5.CardID) != 32 || e5.CardID[6:16] != "D156000005" {
		errs = append(errs, fmt.Errorf("ef05.cardId: want 32 hex digits with D156000005 after the city code, got %q", e5.CardID))
	}
	r.ef05 = [][]byte{
		tlv(card.TagCardID, id),
		tlv(card.TagCardType, check("ef05.cardType")(anField(e5.CardType, 1))),
		tlv(card.TagVersion, check("ef05.version")(anField(e5.Version, 4))),
		tlv(card.TagInitOrg, check("ef05.initOrg")(cnField(e5.InitOrg, 12))),
		tlv(card.TagIssueDate, check("ef05.issueDate")(cnField(e5.IssueDate, 4))),
		tlv(card.TagExpiryDate, check("ef05.expiryDate")(cnField(e5.ExpiryDate, 4))),
		tlv(card.TagCardNo, check("ef05.cardNo")(anField(e5.CardNo, 9))),
	}
	name, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(e6.Name))
	if err != nil || len(name) == 0 || len(name) > 50 {
		errs = append(errs, fmt.Errorf("ef06.name: 1-50 bytes in GBK, got %q", e6.Name))
	}
	first, ext := name, []byte(nil)
	if len(first) > 30 {
		first, ext = name[:30], name[30:]
	}
	r.ef06 = [][]byte{
		tlv(card.TagSSN, check("ef06.ssn")(anField(e6.SSN, 18))),
		tlv(card.TagName, pad(first, 30, 0)),
		tlv(card.TagSex, check("ef06.sex")(anField(e6.Sex, 1))),
		tlv(card.TagNation, check("ef06.nation")(cnField(e6.Nation, 1))),
		tlv(card.TagBirthPlace, check("ef06.birthPlace")(cnField(e6.BirthPlace, 3))),
		tlv(card.TagBirthDate, check("ef06.birthDate")(cnField(e6.BirthDate, 4))),
		tlv(card.TagNameExt, pad(ext, 20, 0)),
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if r.gen = 1; strings.HasPrefix(e5.Version, "2") {
		r.gen = 2
	} else if strings.HasPrefix(e5.Version, "3") {
		r.gen = 3
	}
	return r, nil
}

// Region is the card's city code (the first 6 digits of the 卡识别码).
func (p *Profile) Region() string {
	if len(p.EF05.CardID) < 6 {
		return ""
	}
	return p.EF05.CardID[:6]
}

func tlv(tag byte, v []byte) []byte { return append([]byte{tag, byte(len(v))}, v...) }

func pad(b []byte, n int, with byte) []byte {
	out := bytes.Repeat([]byte{with}, n)
	copy(out, b)
	return out
}

// anField is an alphanumeric field of n bytes, padded with 00.
func anField(s string, n int) ([]byte, error) {
	if len(s) > n {
		return nil, fmt.Errorf("%q is longer than %d bytes", s, n)
	}
	return pad([]byte(s), n, 0), nil
}

// cnField is a compressed numeric field of n bytes: the hex digits, padded with F.
func cnField(s string, n int) ([]byte, error) {
	if len(s) > 2*n {
		return nil, fmt.Errorf("%q is longer than %d digits", s, 2*n)
	}
	b, err := hex.DecodeString(s + strings.Repeat("F", 2*n-len(s)))
	if err != nil {
		return nil, fmt.Errorf("%q is not hex digits", s)
	}
	return b, nil
}

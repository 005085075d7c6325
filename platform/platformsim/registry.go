package platformsim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/sscagent/sscagent/internal/gbcode"
)

// Registry is the sandbox's card and person registry (持卡库), seeded from a JSON file.
// It is read-only once loaded; balances live in the payment ledger.
type Registry struct {
	Persons []Person `json:"persons"`
}

// Person is one registered person.
type Person struct {
	IDNumber   string `json:"idNumber"` // 社会保障号码, GB 11643
	Name       string `json:"name"`
	Gender     string `json:"gender,omitempty"`     // 1 male, 2 female, 9 unspecified
	Nation     string `json:"nation,omitempty"`     // GB 3304 code
	BirthDate  string `json:"birthDate,omitempty"`  // YYYY-MM-DD
	BirthPlace string `json:"birthPlace,omitempty"` // GB/T 2260
	Cards      []Card `json:"cards,omitempty"`
	ECard      *ECard `json:"ecard,omitempty"`
	// Portraits are the SHA-256 (hex) of the JPEGs faceVerify accepts as this person,
	// besides the built-in test portrait (Portrait).
	Portraits []string `json:"portraits,omitempty"`
}

// Card is a physical social security card.
type Card struct {
	CardNo string `json:"cardNo"` // 卡号, 9 characters
	// CardID is the 卡识别码: all 32 characters, or the first 24 (region, application
	// id, serial) when the card authentication code is not fixed.
	CardID     string `json:"cardId"`
	RegionCode string `json:"regionCode"`
	Version    string `json:"version,omitempty"`
	IssueDate  string `json:"issueDate,omitempty"`  // YYYYMMDD
	ExpiryDate string `json:"expiryDate,omitempty"` // YYYYMMDD
	// Status is normal, lost (挂失), frozen or cancelled.
	Status string `json:"status"`
}

// ECard is a person's electronic social security card.
type ECard struct {
	// SignLevel is "1" (一级签发: identity only) or "2" (二级签发: payment).
	SignLevel  string `json:"signLevel"`
	RegionCode string `json:"regionCode"`
	// Balance is the opening balance of the linked account, yuan with two decimals.
	Balance string `json:"balance"`
}

//go:embed seed.json
var defaultSeed []byte

// DefaultSeed returns the built-in seed file: the shared test identities (张三, 李四,
// 王五, 赵六; 钱七 is deliberately absent).
func DefaultSeed() []byte { return bytes.Clone(defaultSeed) }

// DefaultRegistry returns the registry of the built-in seed.
func DefaultRegistry() *Registry {
	r, err := ParseRegistry(defaultSeed)
	if err != nil {
		panic("platformsim: built-in seed: " + err.Error()) // a test guards the file
	}
	return r
}

var (
	reCardNo  = regexp.MustCompile(`^[0-9A-Z]{9}$`)
	reCardID  = regexp.MustCompile(`^[0-9]{6}D156000005[0-9]{8}([0-9A-Fa-f]{8})?$`)
	reDate8   = regexp.MustCompile(`^[0-9]{8}$`)
	reBalance = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)
)

// ParseRegistry reads a seed file strictly (unknown fields are errors) and checks it:
// ID numbers with their GB 11643 check digit, unique ID and card numbers, card and
// e-card fields. Every problem is reported at once.
func ParseRegistry(b []byte) (*Registry, error) {
	var seed struct {
		Comment string   `json:"comment"`
		Persons []Person `json:"persons"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	ids, cards := map[string]bool{}, map[string]bool{}
	for i, p := range seed.Persons {
		at := fmt.Sprintf("persons[%d]", i)
		if err := gbcode.IDNumber(p.IDNumber); err != nil {
			bad("%s.idNumber: %v", at, err)
		}
		if ids[p.IDNumber] {
			bad("%s.idNumber: listed twice", at)
		}
		ids[p.IDNumber] = true
		if strings.TrimSpace(p.Name) == "" {
			bad("%s.name: required", at)
		}
		for j, c := range p.Cards {
			cat := fmt.Sprintf("%s.cards[%d]", at, j)
			if !reCardNo.MatchString(c.CardNo) {
				bad("%s.cardNo: want 9 capital letters or digits", cat)
			}
			if cards[c.CardNo] {
				bad("%s.cardNo: listed twice", cat)
			}
			cards[c.CardNo] = true
			if !reCardID.MatchString(c.CardID) {
				bad("%s.cardId: want 6 digits, D156000005, 8 digits and optionally 8 hex digits", cat)
			}
			if err := gbcode.RegionCode(c.RegionCode); err != nil {
				bad("%s.regionCode: %v", cat, err)
			}
			for _, d := range []string{c.IssueDate, c.ExpiryDate} {
				if d != "" && !reDate8.MatchString(d) {
					bad("%s: dates are YYYYMMDD", cat)
				}
			}
			switch c.Status {
			case "normal", "lost", "frozen", "cancelled":
			default:
				bad("%s.status: want normal, lost, frozen or cancelled", cat)
			}
		}
		if e := p.ECard; e != nil {
			if e.SignLevel != "1" && e.SignLevel != "2" {
				bad("%s.ecard.signLevel: want 1 or 2", at)
			}
			if !reBalance.MatchString(e.Balance) {
				bad("%s.ecard.balance: want yuan with two decimals", at)
			}
		}
		if err := checkPortraits(p); err != nil {
			bad("%s.%v", at, err)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("seed: %s", strings.Join(problems, "; "))
	}
	return &Registry{Persons: seed.Persons}, nil
}

// person returns the person with an ID number.
func (r *Registry) person(id string) *Person {
	for i := range r.Persons {
		if r.Persons[i].IDNumber == id {
			return &r.Persons[i]
		}
	}
	return nil
}

// cardByNo returns a card and its holder.
func (r *Registry) cardByNo(no string) (*Card, *Person) {
	for i := range r.Persons {
		for j := range r.Persons[i].Cards {
			if r.Persons[i].Cards[j].CardNo == no {
				return &r.Persons[i].Cards[j], &r.Persons[i]
			}
		}
	}
	return nil, nil
}

// cardByID returns the card whose 卡识别码 matches id (all 32 characters, or the first
// 24 when the seed holds only those).
func (r *Registry) cardByID(id string) (*Card, *Person) {
	for i := range r.Persons {
		for j := range r.Persons[i].Cards {
			if matchCardID(r.Persons[i].Cards[j].CardID, id) {
				return &r.Persons[i].Cards[j], &r.Persons[i]
			}
		}
	}
	return nil, nil
}

func matchCardID(seed, id string) bool {
	if len(seed) == 32 {
		return strings.EqualFold(seed, id)
	}
	return len(id) == 32 && strings.EqualFold(seed, id[:len(seed)])
}

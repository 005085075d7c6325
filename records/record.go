package records

import (
	"bytes"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/mask"
)

// Kind is the type of a record: one of the three tables of Appendix C.3.
type Kind string

// The record kinds.
const (
	KindCredential Kind = "credential" // C.3 办事凭证数据 (table C.3)
	KindPayment    Kind = "payment"    // C.4 支付结算数据 (table C.4)
	KindBenefit    Kind = "benefit"    // C.5 待遇发放数据 (table C.5)
)

// Kinds lists the record kinds in the standard's order.
func Kinds() []Kind { return []Kind{KindCredential, KindPayment, KindBenefit} }

// Valid reports whether k is one of the three kinds.
func (k Kind) Valid() bool { return tableOf(k) != nil }

// Table returns the number of the standard's table for k ("C.3"), or "" for an invalid kind.
func (k Kind) Table() string {
	if t := tableOf(k); t != nil {
		return t.number
	}
	return ""
}

// Title returns the standard's Chinese name of the table for k ("办事凭证数据").
func (k Kind) Title() string {
	if t := tableOf(k); t != nil {
		return t.title
	}
	return ""
}

// Record is a validated Appendix C record: *Credential, *Payment or *Benefit. The set is
// closed; switch on the concrete type or on Kind.
type Record interface {
	// Kind returns the record's kind.
	Kind() Kind
	// Validate reports every problem of the record as a *ValidationError, or nil. It does
	// not modify the record: a value that is valid but not in canonical form (an amount
	// "798.8", a label with stray spaces) is valid.
	Validate() error
	// Normalize validates the record and, when it is valid, rewrites every field into its
	// canonical form (see the package documentation). On error the record is unchanged.
	Normalize() error
	// HolderID returns the holder's 社会保障号码 (the payer's for a payment) in clear, for
	// the code that must encrypt or index it. Never log it; mask.IDNumber it for display.
	HolderID() string
	// Masked returns a copy whose personal data (Field.Personal) is masked per spec 8.3.2,
	// for events, logs and CLI output. The copy does not validate and must not be sent.
	Masked() Record

	values() []*string
}

// MaxSize is the largest raw record Parse accepts, in bytes. The longest valid record
// (every ..ul field at MaxText characters of three-byte UTF-8) is about 30 KiB.
const MaxSize = 64 << 10

// Parse decodes raw as a record of the given kind and returns it validated and in
// canonical form. Decoding is strict: raw must be one JSON object in UTF-8, at most
// MaxSize bytes, with no member that is not a field of the kind, no member twice and
// nothing after the object. Every field value must be a JSON string; amounts and
// coordinates may also be JSON numbers; null is the same as an absent field.
//
// On failure Parse returns a nil Record and a *ValidationError listing every problem.
func Parse(kind Kind, raw []byte) (Record, error) {
	t := tableOf(kind)
	if t == nil {
		var p problems
		p.add(FieldRecord, RuleKind, "unknown record kind "+quote(string(kind))+": want credential, payment or benefit")
		return nil, p.err(kind)
	}
	r := t.new()
	var p problems
	skip := decode(t, raw, r.values(), &p)
	norm := check(t, r.values(), skip, &p)
	if err := p.err(kind); err != nil {
		return nil, err
	}
	setAll(r.values(), norm)
	return r, nil
}

// Encode validates r and returns its canonical JSON: the fields in the order of the
// standard's table, every value a JSON string in canonical form (amounts "798.86",
// datetimes "2022-01-01 14:28:36", value ranges as labels), absent optional fields left
// out, no insignificant white space, no HTML escaping. Parse(r.Kind(), Encode(r))
// returns an equal record and encoding that again gives the same bytes. r is not
// modified.
func Encode(r Record) ([]byte, error) {
	t := tableOf(r.Kind())
	var p problems
	norm := check(t, r.values(), nil, &p)
	if err := p.err(r.Kind()); err != nil {
		return nil, err
	}
	return encode(t, norm), nil
}

// encode writes the canonical JSON object of the normalised values.
func encode(t *table, norm []string) []byte {
	var b bytes.Buffer
	b.Grow(512)
	b.WriteByte('{')
	first := true
	for i, f := range t.fields {
		if norm[i] == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(&b, f.Name)
		b.WriteByte(':')
		writeString(&b, norm[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// writeString writes s as a JSON string: '"', '\' and control characters escaped
// (control characters as \u00XX; valid records have none), U+2028 and U+2029 escaped
// for JavaScript readers, everything else verbatim (no HTML escaping).
func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i, r := range s {
		var esc string
		switch {
		case r == '"':
			esc = `\"`
		case r == '\\':
			esc = `\\`
		case r < 0x20:
			esc = `\u00` + string(hex[r>>4]) + string(hex[r&0xF])
		case r == '\u2028':
			esc = `\u2028`
		case r == '\u2029':
			esc = `\u2029`
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(esc)
		start = i + utf8.RuneLen(r)
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// validate is Record.Validate for every kind.
func validate(r Record) error {
	var p problems
	check(tableOf(r.Kind()), r.values(), nil, &p)
	if err := p.err(r.Kind()); err != nil {
		return err
	}
	return nil
}

// normalize is Record.Normalize for every kind.
func normalize(r Record) error {
	var p problems
	norm := check(tableOf(r.Kind()), r.values(), nil, &p)
	if err := p.err(r.Kind()); err != nil {
		return err
	}
	setAll(r.values(), norm)
	return nil
}

// masked masks the personal fields of a copy's values in place.
func masked(t *table, vs []*string) {
	for i, f := range t.fields {
		if f.Personal != 0 && *vs[i] != "" {
			*vs[i] = f.Personal.Apply(*vs[i])
		}
	}
}

func setAll(vs []*string, norm []string) {
	for i, v := range vs {
		*v = norm[i]
	}
}

// Fields returns the field descriptions of kind k in the standard's table order, or
// nil for an invalid kind. The slice is a copy.
func Fields(k Kind) []Field {
	t := tableOf(k)
	if t == nil {
		return nil
	}
	out := make([]Field, len(t.fields))
	for i, f := range t.fields {
		out[i] = f.Field
	}
	return out
}

// Field describes one field of a record table.
type Field struct {
	// Name is the JSON member name (camelCase).
	Name string
	// Chinese is the standard's 字段名称, e.g. "社会保障号码".
	Chinese string
	// Format is the C.2 format or rule: "n12", "an18", "..120", "..ul", "n..12,2",
	// "n..8,4", "datetime", "C.6" ... "C.10", or the name of a value list ("C.4 用卡类型").
	Format string
	// Required is the table's 是否必填.
	Required bool
	// Personal is the spec 8.3.2 masking rule for personal data, 0 for other fields.
	// The platform client encrypts these fields (SM4) inside data.
	Personal mask.Kind
}

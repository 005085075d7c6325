package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// field is one row of a record table: its description and its rule.
type field struct {
	Field
	// number: a JSON number is accepted as well as a string (amounts, coordinates).
	number bool
	// check validates a trimmed, non-empty value and returns its canonical form. A
	// *ruleError names a rule other than Format.
	check func(s string) (string, error)
	// unlisted, for a field of an open list, returns the part of a canonical value that
	// the list does not hold ("" when it does), for the warning hook.
	unlisted func(canonical string) string
}

// ruleError is a check failure under a rule other than the field's Format.
type ruleError struct{ rule, reason string }

func (e *ruleError) Error() string { return e.rule + ": " + e.reason }

// table is one record table of Appendix C.3.
type table struct {
	kind   Kind
	number string // "C.3"
	title  string // "办事凭证数据"
	fields []field
	index  map[string]int // JSON name -> field
	hint   map[string]int // lower-case JSON name and Chinese name -> field, for "did you mean"
	new    func() Record
}

// The standard states no rule between the fields of a record (no order of times, no
// agreement between 用卡类型 and 支付结算方式 or between 应用机构类别 and the credit code,
// no pairing of coordinates), so each field is checked on its own.

func newTable(kind Kind, number, title string, newRec func() Record, fields ...field) *table {
	t := &table{kind: kind, number: number, title: title, fields: fields, new: newRec,
		index: map[string]int{}, hint: map[string]int{}}
	for i, f := range fields {
		t.index[f.Name] = i
		t.hint[strings.ToLower(f.Name)] = i
		t.hint[f.Chinese] = i
	}
	return t
}

func tableOf(k Kind) *table {
	switch k {
	case KindCredential:
		return credentialTable
	case KindPayment:
		return paymentTable
	case KindBenefit:
		return benefitTable
	}
	return nil
}

// check validates and normalises the values in table order. skip marks fields whose
// decoding already failed. It returns the normalised values ("" for absent or invalid
// fields) and notes in p the values outside open lists.
func check(t *table, vs []*string, skip []bool, p *problems) []string {
	norm := make([]string, len(t.fields))
	for i, f := range t.fields {
		if skip != nil && skip[i] {
			continue
		}
		s := strings.TrimFunc(*vs[i], unicode.IsSpace)
		if s == "" {
			if f.Required {
				p.add(f.Name, RuleRequired, f.Chinese+" is required")
			}
			continue
		}
		c, err := f.check(s)
		if err != nil {
			var re *ruleError
			if errors.As(err, &re) {
				p.add(f.Name, re.rule, re.reason)
			} else {
				p.add(f.Name, f.Format, err.Error())
			}
			continue
		}
		norm[i] = c
		if f.unlisted != nil {
			if u := f.unlisted(c); u != "" {
				p.unlisted = append(p.unlisted, unlistedValue{f.Name, u})
			}
		}
	}
	return norm
}

// decode fills vs from the JSON object raw, reporting problems to p. It returns the
// fields whose values could not be decoded, which check then skips.
func decode(t *table, raw []byte, vs []*string, p *problems) (skip []bool) {
	skip = make([]bool, len(t.fields))
	if len(raw) > MaxSize {
		p.add(FieldRecord, RuleSize, "record is "+itoa(len(raw))+" bytes, at most "+itoa(MaxSize))
		return skipAll(skip)
	}
	if !utf8.Valid(raw) {
		p.add(FieldRecord, RuleJSON, "record is not valid UTF-8")
		return skipAll(skip)
	}
	if bytes.HasPrefix(raw, []byte("\uFEFF")) {
		p.add(FieldRecord, RuleJSON, "record starts with a byte order mark")
		return skipAll(skip)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		p.add(FieldRecord, RuleJSON, "not a JSON object: "+jsonReason(err))
		return skipAll(skip)
	}
	if d, isDelim := tok.(json.Delim); !isDelim || d != '{' {
		p.add(FieldRecord, RuleJSON, "not a JSON object: starts with "+tokenKind(tok))
		return skipAll(skip)
	}
	seen := make([]bool, len(t.fields))
	var dups map[string]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			p.add(FieldRecord, RuleJSON, jsonReason(err))
			return skipAll(skip)
		}
		name := tok.(string) // inside an object, Token yields keys as strings
		val, err := dec.Token()
		if err != nil {
			p.add(FieldRecord, RuleJSON, "value of "+quote(name)+": "+jsonReason(err))
			return skipAll(skip)
		}
		if d, nested := val.(json.Delim); nested {
			if err := skipNested(dec, d); err != nil {
				p.add(FieldRecord, RuleJSON, "value of "+quote(name)+": "+jsonReason(err))
				return skipAll(skip)
			}
		}
		i, known := t.index[name]
		if !known {
			if p.full() {
				p.dropped++ // not worth a reason nobody will read
			} else {
				p.add(memberName(name), RuleUnknown, unknownReason(t, name))
			}
			continue
		}
		if seen[i] {
			if dups == nil {
				dups = map[string]bool{}
			}
			if !dups[name] {
				dups[name] = true
				p.add(name, RuleDuplicate, "appears more than once")
			}
			skip[i] = true
			continue
		}
		seen[i] = true
		switch v := val.(type) {
		case string:
			*vs[i] = v
		case nil: // null: as if absent
		case json.Number:
			if !t.fields[i].number {
				p.add(name, RuleType, "must be a JSON string (spec 8.1.1.1 d: parameters travel as strings)")
				skip[i] = true
				continue
			}
			*vs[i] = string(v)
		default:
			p.add(name, RuleType, "must be a JSON string, not "+tokenKind(val))
			skip[i] = true
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		p.add(FieldRecord, RuleJSON, jsonReason(err))
		return skipAll(skip)
	}
	if _, err := dec.Token(); err != io.EOF {
		p.add(FieldRecord, RuleJSON, "data after the JSON object")
		return skipAll(skip)
	}
	return skip
}

func skipAll(skip []bool) []bool {
	for i := range skip {
		skip[i] = true
	}
	return skip
}

func unknownReason(t *table, name string) string {
	r := "not a field of " + t.number + " " + t.title
	if i, ok := t.hint[strings.ToLower(name)]; ok {
		return r + "; did you mean " + t.fields[i].Name + "?"
	}
	if i, ok := t.hint[strings.TrimFunc(name, unicode.IsSpace)]; ok {
		return r + "; did you mean " + t.fields[i].Name + "?"
	}
	return r
}

// memberName is an unknown member's name as FieldError.Field: truncated, and `""` for
// the empty name so that every problem names something.
func memberName(name string) string {
	if name == "" {
		return `""`
	}
	return truncate(name, 64)
}

func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + itoa(int(se.Offset))
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	return err.Error()
}

// skipNested reads the rest of the array or object that open started.
func skipNested(dec *json.Decoder, open json.Delim) error {
	depth := 1
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func tokenKind(tok json.Token) string {
	switch tok {
	case json.Delim('{'):
		return "an object"
	case json.Delim('['):
		return "an array"
	}
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

package protocol

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Data is the decoded form of an envelope's "data" and "result": a JSON object whose
// values are strings (spec 8.1.1.1 d: every parameter travels as a string) or, for the
// few list parameters (backflow's records and their acknowledgements), arrays of flat
// objects of strings. No numbers, booleans, nulls or deeper nesting exist on this wire.
// The zero value is an empty object.
type Data struct {
	// Fields are the string parameters.
	Fields map[string]string
	// Lists are the list parameters: each element a flat object of strings.
	Lists map[string][]map[string]string
}

// Limits of a data object, on top of MaxMessage.
const (
	// MaxListLen bounds the elements of one list parameter.
	MaxListLen = 1000
	// MaxFields bounds the keys of one object.
	MaxFields = 200
)

// Get returns a string parameter ("" when absent).
func (d Data) Get(name string) string { return d.Fields[name] }

// Set sets a string parameter; an empty value removes it (empty parameters are not
// sent, as in the canonical string).
func (d *Data) Set(name, value string) {
	if value == "" {
		delete(d.Fields, name)
		return
	}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	d.Fields[name] = value
}

// SetList sets a list parameter.
func (d *Data) SetList(name string, list []map[string]string) {
	if d.Lists == nil {
		d.Lists = map[string][]map[string]string{}
	}
	d.Lists[name] = list
}

// Clone returns a deep copy of d.
func (d Data) Clone() Data {
	out := Data{}
	if d.Fields != nil {
		out.Fields = make(map[string]string, len(d.Fields))
		for k, v := range d.Fields {
			out.Fields[k] = v
		}
	}
	if d.Lists != nil {
		out.Lists = make(map[string][]map[string]string, len(d.Lists))
		for k, l := range d.Lists {
			cl := make([]map[string]string, len(l))
			for i, e := range l {
				ce := make(map[string]string, len(e))
				for ek, ev := range e {
					ce[ek] = ev
				}
				cl[i] = ce
			}
			out.Lists[k] = cl
		}
	}
	return out
}

// Encode writes d as compact JSON with keys sorted by byte order at every level and no
// HTML escaping, so the same Data always gives the same text.
func (d Data) Encode() string {
	keys := make([]string, 0, len(d.Fields)+len(d.Lists))
	for k := range d.Fields {
		keys = append(keys, k)
	}
	for k := range d.Lists {
		if _, dup := d.Fields[k]; !dup {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		if v, ok := d.Fields[k]; ok {
			writeJSONString(&b, v)
			continue
		}
		b.WriteByte('[')
		for j, e := range d.Lists[k] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(Data{Fields: e}.Encode())
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String()
}

// MarshalJSON writes d as Encode does, so a Data can be printed inside other JSON.
func (d Data) MarshalJSON() ([]byte, error) { return []byte(d.Encode()), nil }

// ParseData reads the text of "data" or "result". An empty text is an empty object.
// Like ParseObject it refuses duplicate keys, invalid UTF-8, trailing data and any value
// that is not a string or a list of flat string objects.
func ParseData(text string) (Data, error) {
	var d Data
	if text == "" {
		return d, nil
	}
	if len(text) > MaxMessage {
		return d, fmt.Errorf("%w: data larger than %d bytes", ErrMalformed, MaxMessage)
	}
	if !utf8.ValidString(text) {
		return d, fmt.Errorf("%w: data is not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if err := expectDelim(dec, '{'); err != nil {
		return d, err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec, seen)
		if err != nil {
			return d, err
		}
		tok, err := dec.Token()
		if err != nil {
			return d, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch v := tok.(type) {
		case string:
			if d.Fields == nil {
				d.Fields = map[string]string{}
			}
			d.Fields[key] = v // an explicit "" is kept: it is part of what was signed
		case json.Delim:
			if v != '[' {
				return d, fmt.Errorf("%w: field %q is an object; only strings and lists of objects are allowed", ErrMalformed, key)
			}
			list, err := parseList(dec, key)
			if err != nil {
				return d, err
			}
			d.SetList(key, list)
		default:
			return d, fmt.Errorf("%w: field %q is not a string", ErrMalformed, key)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return d, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, fmt.Errorf("%w: trailing data after the object", ErrMalformed)
	}
	return d, nil
}

func parseList(dec *json.Decoder, key string) ([]map[string]string, error) {
	list := []map[string]string{}
	for dec.More() {
		if len(list) == MaxListLen {
			return nil, fmt.Errorf("%w: list %q has more than %d elements", ErrMalformed, key, MaxListLen)
		}
		if err := expectDelim(dec, '{'); err != nil {
			return nil, fmt.Errorf("list %q: %w", key, err)
		}
		e := map[string]string{}
		seen := map[string]bool{}
		for dec.More() {
			k, err := objectKey(dec, seen)
			if err != nil {
				return nil, fmt.Errorf("list %q: %w", key, err)
			}
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			s, ok := tok.(string)
			if !ok {
				return nil, fmt.Errorf("%w: list %q: field %q is not a string", ErrMalformed, key, k)
			}
			e[k] = s
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return nil, err
	}
	return list, nil
}

func objectKey(dec *json.Decoder, seen map[string]bool) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	key := tok.(string) // object keys are always strings
	if seen[key] {
		return "", fmt.Errorf("%w: field %q appears twice", ErrMalformed, key)
	}
	if len(seen) == MaxFields {
		return "", fmt.Errorf("%w: more than %d fields", ErrMalformed, MaxFields)
	}
	seen[key] = true
	return key, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: expected %q, got %v", ErrMalformed, string(want), tok)
	}
	return nil
}

// Path names a parameter inside Data: "idNumber" is a string parameter, and
// "records[].record" is the field "record" of every element of the list "records".
type Path string

func (p Path) split() (list, field string, inList bool) {
	list, field, inList = strings.Cut(string(p), "[].")
	if !inList {
		return "", string(p), false
	}
	return list, field, true
}

// each calls f with a pointer-like setter for every value p names in d.
func (d Data) each(p Path, f func(v string, set func(string)) error) error {
	list, field, inList := p.split()
	if !inList {
		v, ok := d.Fields[field]
		if !ok {
			return nil
		}
		return f(v, func(nv string) { d.Fields[field] = nv })
	}
	for _, e := range d.Lists[list] {
		v, ok := e[field]
		if !ok {
			continue
		}
		if err := f(v, func(nv string) { e[field] = nv }); err != nil {
			return err
		}
	}
	return nil
}

// Values returns every value p names in d, in order.
func (d Data) Values(p Path) []string {
	var out []string
	_ = d.each(p, func(v string, _ func(string)) error { out = append(out, v); return nil })
	return out
}

// EncryptFields replaces, in place, every non-empty value named by paths with its SM4
// ciphertext. Empty values stay empty: there is nothing to hide and nothing is sent.
func (d Data) EncryptFields(c *FieldCipher, paths []Path) error {
	for _, p := range paths {
		err := d.each(p, func(v string, set func(string)) error {
			if v == "" {
				return nil
			}
			ct, err := c.Encrypt(v)
			if err != nil {
				return fmt.Errorf("encrypt %s: %w", p, err)
			}
			set(ct)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DecryptFields reverses EncryptFields in place. A value that does not decrypt is an
// error naming its path (never its content).
func (d Data) DecryptFields(c *FieldCipher, paths []Path) error {
	for _, p := range paths {
		err := d.each(p, func(v string, set func(string)) error {
			if v == "" {
				return nil
			}
			pt, err := c.Decrypt(v)
			if err != nil {
				return fmt.Errorf("decrypt %s: %w", p, err)
			}
			set(pt)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Names returns the sorted top-level parameter names of d.
func (d Data) Names() []string {
	out := make([]string, 0, len(d.Fields)+len(d.Lists))
	for k := range d.Fields {
		out = append(out, k)
	}
	for k := range d.Lists {
		out = append(out, k)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

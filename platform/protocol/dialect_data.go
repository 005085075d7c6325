package protocol

import (
	"fmt"
	"strconv"
	"strings"
)

// Side is the object a field mapping applies to.
type Side uint8

// Sides.
const (
	SideData   Side = iota // the request's data
	SideResult             // the response's result
)

// opDialect is one operation's names and encrypted fields.
type opDialect struct {
	op          Operation
	path        string
	serviceCode string
	scopes      [2]scope
	encrypt     [2][]Path // internal paths, per side
}

// scope maps the names of one side: top-level names and, per list, element names.
type scope struct {
	fields   []Field
	toWire   map[string]string
	fromWire map[string]string
	items    map[string]*scope // by internal list name
	listWire map[string]string // wire list name -> internal
	identity bool              // every name, also in lists, is its own wire name
}

func newScope() *scope {
	return &scope{toWire: map[string]string{}, fromWire: map[string]string{}, items: map[string]*scope{}, listWire: map[string]string{}}
}

func (s *scope) add(internal, wire string) {
	s.toWire[internal] = wire
	s.fromWire[wire] = internal
}

func compileOp(o Operation, p OperationProfile) *opDialect {
	od := &opDialect{op: o, path: p.Path, serviceCode: p.ServiceCode}
	sides := [2][]Field{append(slices0(o.Data), CommonFields...), o.Result}
	for i, fs := range sides {
		sc := newScope()
		sc.fields = fs
		for _, f := range fs {
			wire := func(n string, def string) string {
				if w := p.Fields[n]; w != "" {
					return w
				}
				return def
			}
			list, field, inList := f.Path.split()
			if !inList {
				sc.add(field, wire(field, field))
				continue
			}
			it, ok := sc.items[list]
			if !ok {
				it = newScope()
				sc.items[list] = it
				lw := wire(list, list)
				sc.add(list, lw)
				sc.listWire[lw] = list
			}
			it.fields = append(it.fields, Field{Path: Path(field), Value: f.Value})
			it.add(field, wire(string(f.Path), field))
		}
		sc.identity = sc.isIdentity()
		od.scopes[i] = *sc
		for _, e := range p.Encrypt {
			if containsField(fs, e) {
				od.encrypt[i] = append(od.encrypt[i], e)
			}
		}
	}
	return od
}

func (s *scope) isIdentity() bool {
	for k, v := range s.toWire {
		if k != v {
			return false
		}
	}
	for _, it := range s.items {
		if !it.isIdentity() {
			return false
		}
	}
	return true
}

func containsField(fs []Field, p Path) bool {
	for _, f := range fs {
		if f.Path == p {
			return true
		}
	}
	return false
}

// Path returns the operation's path below the base URL.
func (d *Dialect) Path(op Op) string { return d.ops[op].path }

// ServiceCode returns the operation's service code ("" when none).
func (d *Dialect) ServiceCode(op Op) string { return d.ops[op].serviceCode }

// Encrypted returns the internal paths encrypted on one side of op.
func (d *Dialect) Encrypted(op Op, side Side) []Path { return d.ops[op].encrypt[side] }

// WireName returns the wire name of an internal field path on one side of op, in the
// form the platform sees it ("records[].jlbh" for an element field).
func (d *Dialect) WireName(op Op, side Side, p Path) string {
	od, ok := d.ops[op]
	if !ok {
		return string(p)
	}
	sc := &od.scopes[side]
	list, field, inList := p.split()
	if !inList {
		if w, ok := sc.toWire[field]; ok {
			return w
		}
		return field
	}
	lw := sc.toWire[list]
	if it, ok := sc.items[list]; ok {
		if w, ok := it.toWire[field]; ok {
			field = w
		}
	}
	if lw == "" {
		lw = list
	}
	return lw + "[]." + field
}

// ToWire turns internal data of one side of op into what travels: values in the
// profile's formats, the encrypted fields encrypted with fc, then the wire names.
// in is not changed.
func (d *Dialect) ToWire(op Op, side Side, in Data, fc *FieldCipher) (Data, error) {
	od, ok := d.ops[op]
	if !ok {
		return Data{}, fmt.Errorf("unknown operation %q", op)
	}
	data := in.Clone()
	sc := &od.scopes[side]
	if err := d.convertValues(sc, data, true); err != nil {
		return Data{}, err
	}
	if err := data.EncryptFields(fc, od.encrypt[side]); err != nil {
		return Data{}, err
	}
	return rename(sc, data, false), nil
}

// FromWire reverses ToWire: wire names to internal ones, decryption, values to the
// internal formats (YYYYMMDD dates, yuan amounts). unknown lists the wire names that
// are no field of this side (kept under their own name when that collides with nothing).
func (d *Dialect) FromWire(op Op, side Side, wire Data, fc *FieldCipher) (data Data, unknown []string, err error) {
	od, ok := d.ops[op]
	if !ok {
		return Data{}, nil, fmt.Errorf("unknown operation %q", op)
	}
	sc := &od.scopes[side]
	unknown = unknownNames(sc, wire)
	data = rename(sc, wire, true)
	if err := data.DecryptFields(fc, od.encrypt[side]); err != nil {
		return Data{}, unknown, err
	}
	if err := d.convertValues(sc, data, false); err != nil {
		return Data{}, unknown, err
	}
	return data, unknown, nil
}

func unknownNames(sc *scope, wire Data) []string {
	var out []string
	for k := range wire.Fields {
		if _, ok := sc.fromWire[k]; !ok {
			out = append(out, k)
		}
	}
	for k, l := range wire.Lists {
		in, ok := sc.listWire[k]
		if !ok {
			out = append(out, k)
			continue
		}
		it := sc.items[in]
		for _, e := range l {
			for ek := range e {
				if _, ok := it.fromWire[ek]; !ok {
					out = append(out, k+"[]."+ek)
				}
			}
		}
	}
	return out
}

// rename maps names; unknown names pass unchanged unless they would collide with a
// mapped name, in which case they are dropped (and were reported by unknownNames).
func rename(sc *scope, in Data, fromWire bool) Data {
	if sc.identity {
		return in // nothing is renamed, nothing can clash
	}
	m, taken := sc.toWire, sc.fromWire
	if fromWire {
		m, taken = sc.fromWire, sc.toWire
	}
	var out Data
	if in.Fields != nil {
		out.Fields = make(map[string]string, len(in.Fields))
	}
	for k, v := range in.Fields {
		if n, ok := m[k]; ok {
			out.Fields[n] = v // an explicit "" is kept: it was signed
		} else if _, clash := taken[k]; !clash {
			out.Fields[k] = v
		}
	}
	for k, l := range in.Lists {
		n, ok := m[k]
		if !ok {
			if _, clash := taken[k]; clash {
				continue
			}
			n = k
		}
		internal := k
		if fromWire {
			internal = n
		}
		it := sc.items[internal]
		nl := make([]map[string]string, len(l))
		for i, e := range l {
			if it == nil {
				nl[i] = e
				continue
			}
			ne := make(map[string]string, len(e))
			im, itaken := it.toWire, it.fromWire
			if fromWire {
				im, itaken = it.fromWire, it.toWire
			}
			for ek, ev := range e {
				if nn, ok := im[ek]; ok {
					ne[nn] = ev
				} else if _, clash := itaken[ek]; !clash {
					ne[ek] = ev
				}
			}
			nl[i] = ne
		}
		out.SetList(n, nl)
	}
	return out
}

// convertValues rewrites date and amount values between the internal formats and the
// profile's, in place (data is internal-named).
func (d *Dialect) convertValues(sc *scope, data Data, toWire bool) error {
	dashed := d.p.Values.Date == DateDashed
	fen := d.p.Values.Amount == AmountFen
	if !dashed && !fen {
		return nil
	}
	conv := func(f Field, v string) (string, error) {
		switch {
		case f.Value == ValueDate && dashed && toWire:
			return dashDate(v)
		case f.Value == ValueDate && dashed:
			return undashDate(v)
		case f.Value == ValueAmount && fen && toWire:
			return YuanToFen(v)
		case f.Value == ValueAmount && fen:
			return FenToYuan(v)
		}
		return v, nil
	}
	for _, f := range sc.fields {
		if f.Value == 0 {
			continue
		}
		err := data.each(f.Path, func(v string, set func(string)) error {
			if v == "" {
				return nil
			}
			nv, err := conv(f, v)
			if err != nil {
				return fmt.Errorf("%s: %w", f.Path, err)
			}
			set(nv)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func dashDate(v string) (string, error) {
	if !isDigits(v, 8) {
		return "", fmt.Errorf("%w: date %q is not YYYYMMDD", ErrMalformed, v)
	}
	return v[:4] + "-" + v[4:6] + "-" + v[6:], nil
}

func undashDate(v string) (string, error) {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' || !isDigits(v[:4]+v[5:7]+v[8:], 8) {
		return "", fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrMalformed, v)
	}
	return v[:4] + v[5:7] + v[8:], nil
}

// YuanToFen turns "12.50" (optionally negative, exactly two decimals) into "1250".
func YuanToFen(v string) (string, error) {
	neg := strings.HasPrefix(v, "-")
	s := strings.TrimPrefix(v, "-")
	ip, fp, ok := strings.Cut(s, ".")
	if !ok || len(fp) != 2 || ip == "" || len(ip) > 12 || !isDigits(ip, len(ip)) || !isDigits(fp, 2) || (len(ip) > 1 && ip[0] == '0') {
		return "", fmt.Errorf("%w: amount %q is not yuan with two decimals", ErrMalformed, v)
	}
	n, _ := strconv.ParseInt(ip+fp, 10, 64)
	if neg && n != 0 {
		n = -n
	}
	return strconv.FormatInt(n, 10), nil
}

// FenToYuan turns "1250" into "12.50".
func FenToYuan(v string) (string, error) {
	s := strings.TrimPrefix(v, "-")
	if s == "" || len(s) > 14 || !isDigits(s, len(s)) || (len(s) > 1 && s[0] == '0') {
		return "", fmt.Errorf("%w: amount %q is not integer fen", ErrMalformed, v)
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	sign := ""
	if strings.HasPrefix(v, "-") && n != 0 {
		sign = "-"
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100), nil
}

package protocol

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sscagent/sscagent/internal/config"
)

// Accepted values of the profile's format keys.
const (
	PayloadString = "string" // data and result are JSON text in a string value
	PayloadObject = "object" // data and result are nested JSON objects

	IDHex32    = "hex32"    // 32 lowercase hex digits
	IDDigits32 = "digits32" // 32 decimal digits (D.1 n32)
	IDUUID     = "uuid"     // 8-4-4-4-12 lowercase hex

	TimeDashed  = "YYYY-MM-DD HH:MM:SS"
	TimeCompact = "YYYYMMDDHHMMSS"

	DateCompact = "YYYYMMDD"
	DateDashed  = "YYYY-MM-DD"

	AmountYuan = "yuan" // "12.50"
	AmountFen  = "fen"  // "1250"
)

// WithDefaults returns p with every empty key set to the sscsim dialect's value.
func (p Profile) WithDefaults() Profile {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	e := &p.Envelope
	rq, rs := &e.Request, &e.Response
	def(&rq.RequestID, "requestId")
	def(&rq.Timestamp, "timestamp")
	def(&rq.ChannelNo, "channelNo")
	def(&rq.ApplicationNo, "applicationNo")
	def(&rq.Data, "data")
	def(&rq.Signature, "signature")
	def(&rs.MsgCode, "msgCode")
	def(&rs.Msg, "msg")
	def(&rs.Result, "result")
	def(&rs.RequestID, "requestId")
	def(&rs.Timestamp, "timestamp")
	def(&rs.Signature, "signature")
	def(&e.Payload, PayloadString)
	def(&e.RequestID, IDHex32)
	def(&e.Timestamp, TimeDashed)
	def(&e.SuccessCode, CodeOK)
	if e.Canonical.OmitEmpty == nil {
		t := true
		e.Canonical.OmitEmpty = &t
	}
	def(&e.Canonical.Join, "&")
	def(&e.Canonical.Assign, "=")
	def(&p.Values.Date, DateCompact)
	def(&p.Values.Amount, AmountYuan)
	def(&p.Signature.SignerID, DefaultSignerID)
	if p.Signature.Format == "" {
		p.Signature.Format = FormatDER
	}
	if p.Signature.Encoding == "" {
		p.Signature.Encoding = Base64
	}
	if p.SM4.Mode == "" {
		p.SM4.Mode = SM4CBC
	}
	if p.SM4.Encoding == "" {
		p.SM4.Encoding = Base64
	}
	ops := make(map[string]OperationProfile, len(operations))
	for k, v := range p.Operations {
		ops[k] = v
	}
	for _, o := range operations {
		op := ops[string(o.Op)]
		def(&op.Path, o.Path)
		if op.Encrypt == nil {
			op.Encrypt = defaultEncrypt(o)
		}
		ops[string(o.Op)] = op
	}
	p.Operations = ops
	return p
}

// defaultEncrypt is the operation's sensitive fields, data and result, without repeats.
func defaultEncrypt(o Operation) []Path {
	out := []Path{}
	for _, pth := range append(Sensitive(o.Data), Sensitive(o.Result)...) {
		if !containsPath(out, pth) {
			out = append(out, pth)
		}
	}
	return out
}

func containsPath(ps []Path, p Path) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Validate implements config.Validator for a profile after WithDefaults.
func (p Profile) Validate(path string, ps *config.Problems) {
	at := func(f string) string { return config.Join(path, f) }
	p = p.WithDefaults()
	if len(p.Name) > 64 {
		ps.Addf(at("name"), "at most 64 bytes")
	}
	e := p.Envelope
	rq, rs := e.Request, e.Response
	checkNames(at("envelope.request"), ps, []string{"requestId", "timestamp", "channelNo", "applicationNo", "data", "signature"},
		[]string{rq.RequestID, rq.Timestamp, rq.ChannelNo, rq.ApplicationNo, rq.Data, rq.Signature})
	checkNames(at("envelope.response"), ps, []string{"msgCode", "msg", "result", "requestId", "timestamp", "signature"},
		[]string{rs.MsgCode, rs.Msg, rs.Result, rs.RequestID, rs.Timestamp, rs.Signature})
	oneOf(ps, at("envelope.payload"), e.Payload, PayloadString, PayloadObject)
	oneOf(ps, at("envelope.requestId"), e.RequestID, IDHex32, IDDigits32, IDUUID)
	oneOf(ps, at("envelope.timestamp"), e.Timestamp, TimeDashed, TimeCompact)
	if !validCode(e.SuccessCode) {
		ps.Addf(at("envelope.successCode"), "must be 1-32 letters, digits, '-' or '_', got %q", e.SuccessCode)
	}
	for _, s := range []struct{ key, v string }{{"join", e.Canonical.Join}, {"assign", e.Canonical.Assign}} {
		if len(s.v) > 4 || strings.ContainsFunc(s.v, func(r rune) bool {
			return r < 0x21 || r > 0x7e || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		}) {
			ps.Addf(at("envelope.canonical."+s.key), "must be 1-4 printable ASCII characters other than letters, digits and '_', got %q", s.v)
		}
	}
	if e.Canonical.Join == e.Canonical.Assign {
		ps.Addf(at("envelope.canonical.assign"), "must differ from join")
	}
	oneOf(ps, at("values.date"), p.Values.Date, DateCompact, DateDashed)
	oneOf(ps, at("values.amount"), p.Values.Amount, AmountYuan, AmountFen)
	if n := len(p.Signature.SignerID); n == 0 || n > 64 {
		ps.Addf(at("signature.signerId"), "must be 1-64 bytes, got %d", n)
	}
	oneOf(ps, at("signature.format"), string(p.Signature.Format), string(FormatDER), string(FormatRaw))
	oneOf(ps, at("signature.encoding"), string(p.Signature.Encoding), string(Base64), string(Hex))
	oneOf(ps, at("sm4.mode"), string(p.SM4.Mode), string(SM4CBC), string(SM4ECB), string(SM4GCM))
	oneOf(ps, at("sm4.encoding"), string(p.SM4.Encoding), string(Base64), string(Hex))
	for _, code := range sortedStrings(p.MsgCodes) {
		fp := config.Join(at("msgCodes"), code)
		if !validCode(code) || code == e.SuccessCode {
			ps.Addf(fp, "must be a msgCode (1-32 letters, digits, '-' or '_') other than the success code")
		}
		if _, ok := ClassNames[p.MsgCodes[code]]; !ok {
			ps.Addf(fp, "must be rejected, retryable or unknown, got %q", p.MsgCodes[code])
		}
	}
	for _, name := range sortedStrings(p.Operations) {
		fp := config.Join(at("operations"), name)
		o, ok := LookupOp(Op(name))
		if !ok {
			ps.Addf(fp, "unknown operation; known: %s", strings.Join(opNames(), ", "))
			continue
		}
		p.Operations[name].validate(o, fp, ps)
	}
}

// ClassNames are the classes profile.msgCodes may assign, with the kind each means.
var ClassNames = map[string]CodeKind{"rejected": KindRejected, "retryable": KindRetryLater, "unknown": KindUnknown}

func (op OperationProfile) validate(o Operation, path string, ps *config.Problems) {
	at := func(f string) string { return config.Join(path, f) }
	if !strings.HasPrefix(op.Path, "/") || strings.ContainsAny(op.Path, "?# ") || len(op.Path) > 256 {
		ps.Addf(at("path"), "must start with / and hold no query, fragment or space, got %q", op.Path)
	}
	if len(op.ServiceCode) > 64 || strings.ContainsAny(op.ServiceCode, "\"\\\x00\n\r\t") {
		ps.Addf(at("serviceCode"), "must be at most 64 printable characters")
	}
	known := knownFields(o)
	for _, k := range sortedStrings(op.Fields) {
		if _, ok := known[Path(k)]; !ok {
			ps.Addf(config.Join(at("fields"), k), "unknown field of %s; known: %s", o.Op, strings.Join(sortedPaths(known), ", "))
			continue
		}
		if !validKey(op.Fields[k]) {
			ps.Addf(config.Join(at("fields"), k), "wire name must be 1-64 letters, digits or '_', got %q", op.Fields[k])
		}
	}
	for i, e := range op.Encrypt {
		if f, ok := known[e]; !ok || f.list {
			ps.Addf(config.Index(at("encrypt"), i), "%q is not a value field of %s", e, o.Op)
		}
	}
	for _, scope := range [][]Field{append(slices0(o.Data), CommonFields...), o.Result} {
		checkScope(scope, op.Fields, at("fields"), ps)
	}
}

func slices0(fs []Field) []Field { return append([]Field(nil), fs...) }

// checkScope reports two fields of one object (data, result, or a list's elements)
// that end up with the same wire name.
func checkScope(fs []Field, m map[string]string, path string, ps *config.Problems) {
	seen := map[string]string{} // scope + wire name -> internal name
	for _, f := range fs {
		names := []string{string(f.Path)}
		if list, _, inList := f.Path.split(); inList {
			names = append(names, list)
		}
		for _, n := range names {
			list, field, inList := Path(n).split()
			w := m[n]
			if w == "" {
				w = field
			}
			key := list + "\x00" + w
			if !inList {
				key = "\x00" + w
			}
			if prev, dup := seen[key]; dup && prev != n {
				ps.Addf(config.Join(path, n), "wire name %q is also the wire name of %s", w, prev)
			}
			seen[key] = n
		}
	}
}

type knownField struct{ list bool }

// knownFields are the names a profile may map for o: every data, result and common
// field, and the list names.
func knownFields(o Operation) map[Path]knownField {
	out := map[Path]knownField{}
	for _, f := range append(append(slices0(o.Data), o.Result...), CommonFields...) {
		out[f.Path] = knownField{}
		if list, _, inList := f.Path.split(); inList {
			out[Path(list)] = knownField{list: true}
		}
	}
	return out
}

func checkNames(path string, ps *config.Problems, keys, names []string) {
	seen := map[string]string{}
	for i, n := range names {
		if !validKey(n) {
			ps.Addf(config.Join(path, keys[i]), "must be 1-64 letters, digits or '_', got %q", n)
			continue
		}
		if prev, dup := seen[n]; dup {
			ps.Addf(config.Join(path, keys[i]), "wire name %q is also the name of %s", n, prev)
		}
		seen[n] = keys[i]
	}
}

func oneOf(ps *config.Problems, path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ps.Addf(path, "must be %s, got %q", strings.Join(quoteAll(allowed), " or "), v)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func validCode(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
}

func opNames() []string {
	out := make([]string, len(operations))
	for i, o := range operations {
		out[i] = string(o.Op)
	}
	return out
}

func sortedStrings[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedPaths[V any](m map[Path]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}

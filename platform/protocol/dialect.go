package protocol

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/config"
)

// Dialect is a compiled Profile: the one implementation of the envelope, the
// canonical string, ids, times, values and field names that the client and the
// sandbox share. Request and Response keep the internal names; the Dialect writes and
// reads them in the profile's names. A Dialect is immutable and safe for concurrent use.
type Dialect struct {
	p       Profile // after WithDefaults
	req     [6]string
	res     [6]string
	object  bool
	tsFmt   string
	scheme  Scheme
	classes map[string]CodeKind
	ops     map[Op]*opDialect
}

// Index of each field in Dialect.req and Dialect.res: the table order of D.1 and D.2.
const (
	rqID = iota
	rqTime
	rqChannel
	rqApp
	rqData
	rqSig
)

const (
	rsCode = iota
	rsMsg
	rsResult
	rsID
	rsTime
	rsSig
)

// Compile checks p and returns its dialect.
func Compile(p Profile) (*Dialect, error) {
	var ps config.Problems
	p.Validate("profile", &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	p = p.WithDefaults()
	e := p.Envelope
	d := &Dialect{
		p:       p,
		req:     [6]string{e.Request.RequestID, e.Request.Timestamp, e.Request.ChannelNo, e.Request.ApplicationNo, e.Request.Data, e.Request.Signature},
		res:     [6]string{e.Response.MsgCode, e.Response.Msg, e.Response.Result, e.Response.RequestID, e.Response.Timestamp, e.Response.Signature},
		object:  e.Payload == PayloadObject,
		tsFmt:   TimeLayout,
		scheme:  Scheme{SignerID: p.Signature.SignerID, Format: p.Signature.Format, Encoding: p.Signature.Encoding},
		classes: map[string]CodeKind{},
		ops:     map[Op]*opDialect{},
	}
	if e.Timestamp == TimeCompact {
		d.tsFmt = "20060102150405"
	}
	for code, cl := range p.MsgCodes {
		d.classes[code] = ClassNames[cl]
	}
	for _, o := range operations {
		d.ops[o.Op] = compileOp(o, p.Operations[string(o.Op)])
	}
	return d, nil
}

// MustDialect compiles a built-in profile; it panics on an error, which a test catches.
func MustDialect(name string) *Dialect {
	p, err := LoadProfile(name)
	if err == nil {
		var d *Dialect
		if d, err = Compile(p); err == nil {
			return d
		}
	}
	panic("protocol: built-in profile " + name + ": " + err.Error())
}

// Profile returns the effective profile (with defaults).
func (d *Dialect) Profile() Profile { return d.p }

// Name is the profile's name.
func (d *Dialect) Name() string { return d.p.Name }

// Scheme is the profile's signature scheme.
func (d *Dialect) Scheme() Scheme { return d.scheme }

// NewCipher returns the field cipher of the profile's SM4 settings for key.
func (d *Dialect) NewCipher(key []byte) (*FieldCipher, error) {
	return NewFieldCipher(key, d.p.SM4.Mode, d.p.SM4.Encoding)
}

// SuccessCode is the msgCode of success on the wire.
func (d *Dialect) SuccessCode() string { return d.p.Envelope.SuccessCode }

// Kind returns what a verified msgCode means: the profile's override, else the
// built-in table; the table's 000000 is success only when it is the success code.
// ok is false for a code in neither.
func (d *Dialect) Kind(code string) (kind CodeKind, ok bool) {
	if code == d.p.Envelope.SuccessCode {
		return KindSuccess, true
	}
	if k, ok := d.classes[code]; ok {
		return k, true
	}
	m, ok := LookupMsgCode(code)
	if !ok || m.Kind == KindSuccess {
		return KindRejected, false
	}
	return m.Kind, true
}

// NewRequestID returns a fresh request id in the profile's format.
func (d *Dialect) NewRequestID() string {
	switch d.p.Envelope.RequestID {
	case IDDigits32:
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("protocol: crypto/rand failed: " + err.Error())
		}
		for i := range b {
			b[i] = '0' + b[i]%10 // 256 = 25*10+6: a bias of under 3 % per digit is harmless for a nonce
		}
		return string(b[:])
	case IDUUID:
		h := NewRequestID()
		return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + h[16:20] + "-" + h[20:]
	}
	return NewRequestID()
}

// IsRequestID reports whether s has the profile's requestId format.
func (d *Dialect) IsRequestID(s string) bool {
	switch d.p.Envelope.RequestID {
	case IDDigits32:
		return isDigits(s, 32)
	case IDUUID:
		if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return false
		}
		return IsRequestID(s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	}
	return IsRequestID(s)
}

// FormatTime writes t as an envelope timestamp in Beijing time.
func (d *Dialect) FormatTime(t time.Time) string { return t.In(Beijing).Format(d.tsFmt) }

// ParseTime reads an envelope timestamp as Beijing time.
func (d *Dialect) ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(d.tsFmt, s, Beijing)
	if err != nil || len(s) != len(d.tsFmt) {
		return time.Time{}, fmt.Errorf("%w: timestamp %q is not %s", ErrMalformed, s, d.p.Envelope.Timestamp)
	}
	return t, nil
}

// Canonical returns the string signed for the wire fields of an envelope (payload
// values as their compact sorted JSON text): every field but the signature, sorted by
// key, key assign value, joined; empty values left out when omitEmpty.
func (d *Dialect) Canonical(fields map[string]string, sigName string) string {
	c := d.p.Envelope.Canonical
	if *c.OmitEmpty && c.Join == "&" && c.Assign == "=" && sigName == SignatureField {
		return Canonical(fields)
	}
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if k == sigName || (*c.OmitEmpty && v == "") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(c.Join)
		}
		b.WriteString(k)
		b.WriteString(c.Assign)
		b.WriteString(fields[k])
	}
	return b.String()
}

// requestFields are r's wire fields (applicationNo left out when empty, as on the wire).
func (d *Dialect) requestFields(r *Request) map[string]string {
	f := map[string]string{d.req[rqID]: r.RequestID, d.req[rqTime]: r.Timestamp, d.req[rqChannel]: r.ChannelNo, d.req[rqData]: r.Data}
	if r.ApplicationNo != "" {
		f[d.req[rqApp]] = r.ApplicationNo
	}
	return f
}

func (d *Dialect) responseFields(r *Response) map[string]string {
	return map[string]string{d.res[rsCode]: r.MsgCode, d.res[rsMsg]: r.Msg, d.res[rsResult]: r.Result,
		d.res[rsID]: r.RequestID, d.res[rsTime]: r.Timestamp}
}

// SignRequest signs r (Data already the wire text of the data) and sets r.Signature.
func (d *Dialect) SignRequest(k *PrivateKey, r *Request) error {
	sig, err := d.scheme.Sign(k, []byte(d.Canonical(d.requestFields(r), d.req[rqSig])))
	r.Signature = sig
	return err
}

// SignResponse signs r and sets r.Signature.
func (d *Dialect) SignResponse(k *PrivateKey, r *Response) error {
	sig, err := d.scheme.Sign(k, []byte(d.Canonical(d.responseFields(r), d.res[rsSig])))
	r.Signature = sig
	return err
}

// MarshalRequest writes a signed request envelope.
func (d *Dialect) MarshalRequest(r *Request) ([]byte, error) {
	vals := []string{r.RequestID, r.Timestamp, r.ChannelNo, r.ApplicationNo, r.Data, r.Signature}
	return d.marshal(d.req[:], vals, rqData, rqApp)
}

// MarshalResponse writes a signed response envelope.
func (d *Dialect) MarshalResponse(r *Response) ([]byte, error) {
	vals := []string{r.MsgCode, r.Msg, r.Result, r.RequestID, r.Timestamp, r.Signature}
	return d.marshal(d.res[:], vals, rsResult, -1)
}

func (d *Dialect) marshal(names, vals []string, payload, omitEmpty int) ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for i, n := range names {
		if i == omitEmpty && vals[i] == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, n)
		b.WriteByte(':')
		if i == payload && d.object {
			v := vals[i]
			if v == "" {
				v = "{}"
			}
			if !json.Valid([]byte(v)) {
				return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, n)
			}
			b.WriteString(v)
			continue
		}
		writeJSONString(&b, vals[i])
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// ParseRequest reads a request envelope in the dialect. It returns the request under
// internal names and the map of every wire field received (payload as its compact
// sorted JSON text), which is what VerifyRequest checks.
func (d *Dialect) ParseRequest(b []byte) (*Request, map[string]string, error) {
	f, err := d.parseEnvelope(b, d.req[rqData])
	if err != nil {
		return nil, nil, err
	}
	return &Request{RequestID: f[d.req[rqID]], Timestamp: f[d.req[rqTime]], ChannelNo: f[d.req[rqChannel]],
		ApplicationNo: f[d.req[rqApp]], Data: f[d.req[rqData]], Signature: f[d.req[rqSig]]}, f, nil
}

// ParseResponse reads a response envelope in the dialect.
func (d *Dialect) ParseResponse(b []byte) (*Response, map[string]string, error) {
	f, err := d.parseEnvelope(b, d.res[rsResult])
	if err != nil {
		return nil, nil, err
	}
	return &Response{MsgCode: f[d.res[rsCode]], Msg: f[d.res[rsMsg]], Result: f[d.res[rsResult]],
		RequestID: f[d.res[rsID]], Timestamp: f[d.res[rsTime]], Signature: f[d.res[rsSig]]}, f, nil
}

// VerifyRequest checks the signature of a received request (fields from ParseRequest).
func (d *Dialect) VerifyRequest(p *PublicKey, fields map[string]string) error {
	return d.verify(p, fields, d.req[rqSig])
}

// VerifyResponse checks the signature of a received response.
func (d *Dialect) VerifyResponse(p *PublicKey, fields map[string]string) error {
	return d.verify(p, fields, d.res[rsSig])
}

func (d *Dialect) verify(p *PublicKey, fields map[string]string, sigName string) error {
	sig := fields[sigName]
	if sig == "" {
		return fmt.Errorf("%w: no %s", ErrBadSignature, sigName)
	}
	return d.scheme.Verify(p, []byte(d.Canonical(fields, sigName)), sig)
}

// CheckRequest checks the formats of table D.1 in the dialect.
func (d *Dialect) CheckRequest(r *Request) error {
	switch {
	case !d.IsRequestID(r.RequestID):
		return fmt.Errorf("%w: %s must be %s", ErrMalformed, d.req[rqID], d.p.Envelope.RequestID)
	case !isDigits(r.ChannelNo, 12):
		return fmt.Errorf("%w: %s must be 12 digits", ErrMalformed, d.req[rqChannel])
	case r.ApplicationNo != "" && !isDigits(r.ApplicationNo, 2):
		return fmt.Errorf("%w: %s must be 2 digits", ErrMalformed, d.req[rqApp])
	case r.Data == "":
		return fmt.Errorf("%w: %s is required", ErrMalformed, d.req[rqData])
	case r.Signature == "":
		return fmt.Errorf("%w: %s is required", ErrMalformed, d.req[rqSig])
	}
	_, err := d.ParseTime(r.Timestamp)
	return err
}

// CheckResponse checks the formats of table D.2 in the dialect.
func (d *Dialect) CheckResponse(r *Response) error {
	switch {
	case !validCode(r.MsgCode):
		return fmt.Errorf("%w: %s must be a code", ErrMalformed, d.res[rsCode])
	case !d.IsRequestID(r.RequestID):
		return fmt.Errorf("%w: %s must be %s", ErrMalformed, d.res[rsID], d.p.Envelope.RequestID)
	case r.Signature == "":
		return fmt.Errorf("%w: %s is required", ErrMalformed, d.res[rsSig])
	}
	_, err := d.ParseTime(r.Timestamp)
	return err
}

// parseEnvelope reads an envelope: string values, except the payload, which is a
// string (payload: string) or an object (payload: object) returned as its compact
// sorted text. Keys are ASCII letters, digits or '_'; duplicates, trailing data and
// more than 32 keys are refused.
func (d *Dialect) parseEnvelope(b []byte, payload string) (map[string]string, error) {
	if !d.object {
		return parseEnvelope(b)
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxMessage)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec, seen)
		if err != nil {
			return nil, err
		}
		if len(out) == 32 || !validKey(key) {
			return nil, fmt.Errorf("%w: envelope key %q refused", ErrMalformed, key)
		}
		if key == payload {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			if len(raw) == 0 || raw[0] != '{' {
				return nil, fmt.Errorf("%w: %s is not a JSON object", ErrMalformed, key)
			}
			pd, err := ParseData(string(raw))
			if err != nil {
				return nil, err
			}
			out[key] = pd.Encode()
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		s, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: field %q is not a string", ErrMalformed, key)
		}
		out[key] = s
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the object", ErrMalformed)
	}
	return out, nil
}

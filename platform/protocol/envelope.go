package protocol

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Request is the Appendix D request envelope (表 D.1). Field order is the table's.
type Request struct {
	// RequestID is unique per request: 32 lowercase hex digits, new for every attempt.
	RequestID string `json:"requestId"`
	// Timestamp is the request time, "YYYY-MM-DD HH:MM:SS" in Beijing time.
	Timestamp string `json:"timestamp"`
	// ChannelNo is the 12-digit system number the platform assigned.
	ChannelNo string `json:"channelNo"`
	// ApplicationNo is the optional 2-digit scene code of table C.7.
	ApplicationNo string `json:"applicationNo,omitempty"`
	// Data is the operation's parameters: a JSON object written as a string.
	Data string `json:"data"`
	// Signature is the signature over the canonical string of the other fields.
	Signature string `json:"signature"`
}

// Fields returns the envelope as a field map (for Canonical).
func (r *Request) Fields() map[string]string {
	return map[string]string{
		"requestId":     r.RequestID,
		"timestamp":     r.Timestamp,
		"channelNo":     r.ChannelNo,
		"applicationNo": r.ApplicationNo,
		"data":          r.Data,
		"signature":     r.Signature,
	}
}

// Canonical returns the string that is signed for r.
func (r *Request) Canonical() string { return Canonical(r.Fields()) }

// Response is the Appendix D response envelope (表 D.2).
type Response struct {
	// MsgCode is "000000" for success; anything else is a failure.
	MsgCode string `json:"msgCode"`
	// Msg is "成功" or the failure's description.
	Msg string `json:"msg"`
	// Result is the operation's answer: a JSON object written as a string.
	Result string `json:"result"`
	// RequestID echoes the request's requestId.
	RequestID string `json:"requestId"`
	// Timestamp is the response time, "YYYY-MM-DD HH:MM:SS" in Beijing time.
	Timestamp string `json:"timestamp"`
	// Signature is the platform's signature over the canonical string of the other fields.
	Signature string `json:"signature"`
}

// Fields returns the envelope as a field map (for Canonical).
func (r *Response) Fields() map[string]string {
	return map[string]string{
		"msgCode":   r.MsgCode,
		"msg":       r.Msg,
		"result":    r.Result,
		"requestId": r.RequestID,
		"timestamp": r.Timestamp,
		"signature": r.Signature,
	}
}

// Canonical returns the string that is signed for r.
func (r *Response) Canonical() string { return Canonical(r.Fields()) }

// Marshal writes an envelope as compact JSON without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// ErrMalformed is returned for an envelope, data or result that is not a JSON object of
// string values.
var ErrMalformed = errors.New("malformed message")

// MaxMessage bounds an envelope read from the network.
const MaxMessage = 1 << 20

// ParseObject reads a JSON object whose values are all strings (spec 8.1.1.1 d: every
// parameter travels as a string). It refuses duplicate keys, other value types, invalid
// UTF-8 and trailing data, so what is verified is exactly what is used.
func ParseObject(b []byte) (map[string]string, error) {
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxMessage)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	out := map[string]string{}
	for dec.More() {
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		key := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		val, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: field %q is not a string", ErrMalformed, key)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%w: field %q appears twice", ErrMalformed, key)
		}
		out[key] = val
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the object", ErrMalformed)
	}
	return out, nil
}

// EncodeObject writes a string map as a compact JSON object with sorted keys and no
// HTML escaping: the text of "data" and "result" (Data.Encode without lists).
func EncodeObject(m map[string]string) string { return Data{Fields: m}.Encode() }

func writeJSONString(b *strings.Builder, s string) {
	// What encoding/json writes without HTML escaping (FuzzJSONString compares them),
	// without its per-call encoder and buffer.
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(s[start:i])
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(s[start:i])
			b.WriteString(`\u202`)
			b.WriteByte(hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// parseEnvelope reads an envelope's fields. Keys must be ASCII letters, digits or '_'
// (at most 64 bytes, at most 32 keys), so no key can contain the "&" or "=" of the
// canonical string.
func parseEnvelope(b []byte) (map[string]string, error) {
	f, err := ParseObject(b)
	if err != nil {
		return nil, err
	}
	if len(f) > 32 {
		return nil, fmt.Errorf("%w: %d envelope fields", ErrMalformed, len(f))
	}
	for k := range f {
		if !validKey(k) {
			return nil, fmt.Errorf("%w: envelope key %q is not letters, digits or '_'", ErrMalformed, k)
		}
	}
	return f, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}

// ParseRequest reads a request envelope and returns it with the map of every field
// received (unknown fields included, since they are part of the canonical string).
func ParseRequest(b []byte) (*Request, map[string]string, error) {
	f, err := parseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	r := &Request{
		RequestID: f["requestId"], Timestamp: f["timestamp"], ChannelNo: f["channelNo"],
		ApplicationNo: f["applicationNo"], Data: f["data"], Signature: f["signature"],
	}
	return r, f, nil
}

// ParseResponse reads a response envelope and returns it with the map of every field
// received.
func ParseResponse(b []byte) (*Response, map[string]string, error) {
	f, err := parseEnvelope(b)
	if err != nil {
		return nil, nil, err
	}
	r := &Response{
		MsgCode: f["msgCode"], Msg: f["msg"], Result: f["result"],
		RequestID: f["requestId"], Timestamp: f["timestamp"], Signature: f["signature"],
	}
	return r, f, nil
}

// CheckFields checks the formats of table D.1 (not the signature or the time).
func (r *Request) CheckFields() error {
	switch {
	case !IsRequestID(r.RequestID):
		return fmt.Errorf("%w: requestId must be 32 lowercase hex digits", ErrMalformed)
	case !isDigits(r.ChannelNo, 12):
		return fmt.Errorf("%w: channelNo must be 12 digits", ErrMalformed)
	case r.ApplicationNo != "" && !isDigits(r.ApplicationNo, 2):
		return fmt.Errorf("%w: applicationNo must be 2 digits", ErrMalformed)
	case r.Data == "":
		return fmt.Errorf("%w: data is required", ErrMalformed)
	case r.Signature == "":
		return fmt.Errorf("%w: signature is required", ErrMalformed)
	}
	if _, err := ParseTime(r.Timestamp); err != nil {
		return err
	}
	return nil
}

// CheckFields checks the formats of table D.2 (not the signature or the time).
func (r *Response) CheckFields() error {
	switch {
	case !isDigits(r.MsgCode, 6):
		return fmt.Errorf("%w: msgCode must be 6 digits", ErrMalformed)
	case !IsRequestID(r.RequestID):
		return fmt.Errorf("%w: requestId must be 32 lowercase hex digits", ErrMalformed)
	case r.Signature == "":
		return fmt.Errorf("%w: signature is required", ErrMalformed)
	}
	if _, err := ParseTime(r.Timestamp); err != nil {
		return err
	}
	return nil
}

// NewRequestID returns 32 lowercase hex digits from 16 random bytes.
func NewRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("protocol: crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return hex.EncodeToString(b[:])
}

// IsRequestID reports whether s has the requestId format.
func IsRequestID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Beijing is the zone of envelope timestamps: UTC+8 (China has no daylight saving), so
// the terminal's own time zone setting does not matter.
var Beijing = time.FixedZone("CST", 8*3600)

// TimeLayout is the envelope timestamp layout, "YYYY-MM-DD HH:MM:SS".
const TimeLayout = "2006-01-02 15:04:05"

// FormatTime writes t as an envelope timestamp in Beijing time.
func FormatTime(t time.Time) string { return t.In(Beijing).Format(TimeLayout) }

// ParseTime reads an envelope timestamp as Beijing time.
func ParseTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(TimeLayout, s, Beijing)
	if err != nil || len(s) != len(TimeLayout) {
		return time.Time{}, fmt.Errorf("%w: timestamp %q is not YYYY-MM-DD HH:MM:SS", ErrMalformed, s)
	}
	return t, nil
}

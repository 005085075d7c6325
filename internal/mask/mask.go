// Package mask hides personal data before a person sees it (spec 8.3.2 数据脱敏): in logs,
// events, MQTT messages, the local API and CLI output. Each rule keeps at most half of a
// value visible (phone numbers excepted, as the spec allows):
//
//	社会保障号码 / ID number   **************4432   last 4 shown
//	姓名 / name                **明                 last 1 (names of 4+ characters: last 2)
//	银行卡号 / bank card       622*********0888     first 3 and last 4
//	手机号码 / phone           133****4387          first 3 and last 4
//	证件日期 / document date   ****0421             last 4
//	地址 / address             北京市海淀区******   first 6 when longer than 12, else at most half
//
// E-card codes and keys are secrets, not personal data to shorten: Secret shows only their
// length and a short fingerprint so two log lines about the same code can be matched.
//
// Text is the safety net for free text such as error messages: it masks every run that
// looks like an ID number, bank card or phone number. The logging package applies it to
// every log record, so a value that slipped past the typed helpers is still hidden.
package mask

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

const star = '*'

// keep shows the first head and last tail runes of s and stars the rest. When head+tail
// would show more than half of s, it shows fewer (tail first) so at least half is hidden.
func keep(s string, head, tail int) string {
	r := []rune(s)
	n := len(r)
	if n == 0 {
		return ""
	}
	limit := n / 2
	for head+tail > limit {
		if head > 0 {
			head--
		} else {
			tail--
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, c := range r {
		if i < head || i >= n-tail {
			b.WriteRune(c)
		} else {
			b.WriteRune(star)
		}
	}
	return b.String()
}

// IDNumber masks a 社会保障号码 / citizen ID number: the last 4 characters are shown.
func IDNumber(s string) string { return keep(s, 0, 4) }

// Name masks a holder's name: the last character is shown, the last two for names of
// four or more characters (compound surnames, minority names).
func Name(s string) string {
	if utf8.RuneCountInString(s) >= 4 {
		return keep(s, 0, 2)
	}
	return keep(s, 0, 1)
}

// BankCard masks a bank card number: the first 3 and last 4 digits are shown.
func BankCard(s string) string { return keep(s, 3, 4) }

// Phone masks a mobile number: the first 3 and last 4 digits are shown (11-digit
// numbers keep 7 of 11 visible, the spec's one exception to the half rule).
func Phone(s string) string {
	r := []rune(s)
	if len(r) < 11 {
		return keep(s, 3, 4)
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

// Date masks a document validity or expiry date: the last 4 digits are shown
// ("20300421" -> "****0421"). A date written with separators keeps them, since they
// carry nothing ("2030-04-21" -> "****-04-21", "2030年04月21日" -> "****年04月21日");
// anything else falls back to the last 4 characters.
func Date(s string) string {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("-./年月日 ", r):
		default:
			return keep(s, 0, 4)
		}
	}
	if digits < 8 {
		return keep(s, 0, 4)
	}
	var b strings.Builder
	b.Grow(len(s))
	seen := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-4 {
				r = star
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Address masks an address, employer or issuing place: the first 6 characters when it
// is longer than 12, otherwise at most half from the start.
func Address(s string) string {
	n := utf8.RuneCountInString(s)
	if n > 12 {
		return keep(s, 6, 0)
	}
	return keep(s, n/2, 0)
}

// Secret describes a secret value (an e-card code, a key) without revealing it: its
// length in bytes and the first 8 hex digits of its SHA-256, e.g. "<secret len=64 id=1a2b3c4d>".
func Secret(s string) string {
	if s == "" {
		return "<secret len=0>"
	}
	h := sha256.Sum256([]byte(s))
	return fmt.Sprintf("<secret len=%d id=%s>", len(s), hex.EncodeToString(h[:4]))
}

// Kind names which masking rule applies to a value.
type Kind uint8

// Masking rules, one per kind of personal datum in 8.3.2.
const (
	KindIDNumber Kind = iota + 1
	KindName
	KindBankCard
	KindPhone
	KindDate
	KindAddress
	KindSecret
)

// String names the rule: "id-number", "name", "bank-card", "phone", "date",
// "address" or "secret".
func (k Kind) String() string {
	switch k {
	case KindIDNumber:
		return "id-number"
	case KindName:
		return "name"
	case KindBankCard:
		return "bank-card"
	case KindPhone:
		return "phone"
	case KindDate:
		return "date"
	case KindAddress:
		return "address"
	case KindSecret:
		return "secret"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Apply masks s with the rule for k. Any kind but the six personal-data rules,
// including the zero Kind, is treated as a secret.
func (k Kind) Apply(s string) string {
	switch k {
	case KindIDNumber:
		return IDNumber(s)
	case KindName:
		return Name(s)
	case KindBankCard:
		return BankCard(s)
	case KindPhone:
		return Phone(s)
	case KindDate:
		return Date(s)
	case KindAddress:
		return Address(s)
	default:
		return Secret(s)
	}
}

// Value is a personal datum that masks itself wherever it is printed or logged. Use it
// for struct fields and log attributes: slog, fmt and encoding/json all see the masked
// form; Clear returns the real value for the code that must send it.
type Value struct {
	v string
	k Kind
}

// Of wraps s as a personal datum of kind k.
func Of(k Kind, s string) Value { return Value{v: s, k: k} }

// Clear returns the unmasked value.
func (v Value) Clear() string { return v.v }

// String returns the masked value.
func (v Value) String() string { return v.k.Apply(v.v) }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(v.String()) }

// MarshalText implements encoding.TextMarshaler with the masked value.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// GoString keeps %#v from printing the clear value.
func (v Value) GoString() string { return fmt.Sprintf("mask.Value(%q)", v.String()) }

// Format keeps every fmt verb (%v, %s, %q, %x, %+v) on the masked value.
func (v Value) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", v.String())
	default:
		fmt.Fprint(f, v.String())
	}
}

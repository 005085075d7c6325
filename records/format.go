package records

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/gbcode"
)

// MaxText is the bound this package sets on the standard's "..ul" (length not fixed)
// fields, in characters. The standard sets none; 512 characters is several times the
// longest value the tables' examples suggest (a government service case number, an
// address, a list of person categories) and keeps a record well under MaxSize.
const MaxText = 512

// Formats of C.2 as named in Field.Format and FieldError.Rule.
const (
	FormatN12      = "n12"
	FormatN6       = "n6"
	FormatAN18     = "an18"
	FormatText120  = "..120"
	FormatText50   = "..50"
	FormatTextUL   = "..ul"
	FormatAmount12 = "n..12,2"
	FormatAmount9  = "n..9,2"
	FormatLon      = "n..8,4"
	FormatLat      = "n..7,4"
	FormatTime     = "datetime"
	RuleIDNumber   = "GB 11643"
	RuleCreditCode = "GB 32100"
	RuleRegion     = "GB/T 2260"
)

// digits returns a check for exactly n ASCII digits (n12 接入编号, n6 商户ID).
func digits(n int) func(string) (string, error) {
	return func(s string) (string, error) {
		if len(s) != n || !allDigits(s) {
			return "", fmt.Errorf("must be exactly %d digits, got %s", n, quote(s))
		}
		return s, nil
	}
}

// text returns a check for free text of at most max characters (not bytes: names are
// Chinese). Control characters, bidirectional overrides, line and paragraph separators
// and U+FFFD (what a broken encoding or a lone surrogate escape decodes to) are refused:
// none belongs in a name or an address, and they can disguise what an operator reads.
func text(max int) func(string) (string, error) {
	return func(s string) (string, error) {
		n := 0
		for _, r := range s {
			n++
			if bad := badRune(r); bad != "" {
				return "", &ruleError{RuleText, fmt.Sprintf("%s U+%04X at character %d", bad, r, n)}
			}
		}
		if n > max {
			return "", fmt.Errorf("is %d characters long, at most %d", n, max)
		}
		return s, nil
	}
}

func badRune(r rune) string {
	switch {
	case r == utf8.RuneError:
		return "replacement character"
	case unicode.IsControl(r):
		return "control character"
	case r == '\u2028' || r == '\u2029':
		return "line separator"
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', r == '\u200E', r == '\u200F':
		return "bidirectional control"
	}
	return ""
}

// idNumber checks a 社会保障号码: 17 digits and a check character per GB 11643. A
// lower-case x is normalised to X. The reason never repeats the number.
func idNumber(s string) (string, error) {
	if len(s) != 18 {
		return "", &ruleError{FormatAN18, fmt.Sprintf("must be 18 characters (17 digits and a check character), got %d", utf8.RuneCountInString(s))}
	}
	if s[17] == 'x' {
		s = s[:17] + "X"
	}
	if err := gbcode.IDNumber(s); err != nil {
		if errors.Is(err, gbcode.ErrCheckDigit) {
			return "", &ruleError{RuleIDNumber, "check character does not match the first 17 digits"}
		}
		return "", &ruleError{FormatAN18, "must be 17 digits and a check character 0-9 or X: " + err.Error()}
	}
	return s, nil
}

// creditCode checks a 统一社会信用代码 per GB 32100; lower case is normalised to upper.
func creditCode(s string) (string, error) {
	u := []byte(s)
	for i, c := range u {
		if c >= 'a' && c <= 'z' {
			u[i] = c - 'a' + 'A'
		}
	}
	s = string(u)
	if len(s) != 18 {
		return "", &ruleError{FormatAN18, fmt.Sprintf("must be 18 characters, got %d", utf8.RuneCountInString(s))}
	}
	if err := gbcode.CreditCode(s); err != nil {
		return "", &ruleError{RuleCreditCode, err.Error()}
	}
	return s, nil
}

// regionCode checks a six-digit GB/T 2260 administrative division code.
func regionCode(s string) (string, error) {
	if err := gbcode.RegionCode(s); err != nil {
		return "", &ruleError{RuleRegion, quote(s) + ": " + err.Error()}
	}
	return s, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func itoa(n int) string { return strconv.Itoa(n) }

// quote quotes a value for a reason, shortened to 40 characters. Only for fields that
// hold no personal data.
func quote(s string) string { return strconv.Quote(truncate(s, 40)) }

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

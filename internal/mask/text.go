package mask

import "strings"

// Text masks, in free text, every maximal run of digits (with an optional trailing X)
// that looks like personal data: 18-character runs ending in a digit or X as ID numbers,
// 15-character runs as old ID numbers, 11-digit runs starting with 1 as phones and
// 16-19 digit runs as bank cards. Other text, including shorter numbers such as amounts,
// sequence numbers and codes like [900001], is left alone. It never fails and never
// changes the length of s.
//
// A run is masked wherever it stands, also glued to letters ("ID110105194912314432",
// "card6222021234560888"), with one exception: inside a token of hexadecimal digits
// that has a letter (a request id, a hash: "0a1b2c...") it is left alone, so that
// identifiers stay readable. Only ASCII letters, digits and "_" make up a token; Chinese
// text around a number ("号码110105194912314432") does not.
func Text(s string) string {
	if !hasLongDigits(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for i < len(s) {
		if !isAlnum(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		if tok := s[i:j]; isHexWord(tok) {
			b.WriteString(tok)
		} else {
			maskRuns(&b, tok)
		}
		i = j
	}
	return b.String()
}

// maskRuns writes tok with its personal-data-shaped digit runs masked.
func maskRuns(b *strings.Builder, tok string) {
	i := 0
	for i < len(tok) {
		if !isDigit(tok[i]) {
			b.WriteByte(tok[i])
			i++
			continue
		}
		j := i
		for j < len(tok) && isDigit(tok[j]) {
			j++
		}
		if j < len(tok) && (tok[j] == 'X' || tok[j] == 'x') && j-i == 17 {
			j++
		}
		run := tok[i:j]
		switch n := len(run); {
		case n == 18 || n == 15:
			b.WriteString(IDNumber(run))
		case n == 11 && run[0] == '1':
			b.WriteString(Phone(run))
		case n >= 16 && n <= 19:
			b.WriteString(BankCard(run))
		default:
			b.WriteString(run)
		}
		i = j
	}
}

// isHexWord reports whether tok is hexadecimal digits with at least one letter.
func isHexWord(tok string) bool {
	letter := false
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case isDigit(c):
		case (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'):
			letter = true
		default:
			return false
		}
	}
	return letter
}

func hasLongDigits(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= 11 {
				return true
			}
		} else {
			n = 0
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
}

package mask

import "strings"

// Text masks, in free text, every maximal run of digits (with an optional trailing X)
// that looks like personal data: 18-character runs ending in a digit or X as ID numbers,
// 15-character runs as old ID numbers, 11-digit runs starting with 1 as phones and
// 16-19 digit runs as bank cards. Other text, including shorter numbers such as amounts,
// sequence numbers and codes like [900001], is left alone. It never fails.
func Text(s string) string {
	if !hasLongDigits(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) || (i > 0 && isAlnum(s[i-1])) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		end := j
		if end < len(s) && (s[end] == 'X' || s[end] == 'x') && end-i == 17 {
			end++
		}
		if end < len(s) && isAlnum(s[end]) {
			// Part of a longer token (hex, an identifier): not a bare number.
			for end < len(s) && isAlnum(s[end]) {
				end++
			}
			b.WriteString(s[i:end])
			i = end
			continue
		}
		run := s[i:end]
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
		i = end
	}
	return b.String()
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

package records

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a sum of money in fen (分, 0.01 yuan), held exactly. The standard's amounts
// are yuan with two decimals (支付金额 n..12,2, 发放金额 n..9,2); an Amount never goes
// through floating point.
type Amount int64

// MaxAmount is the largest amount the standard's widest format (n..12,2) can carry:
// 999 999 999.99 yuan. -MaxAmount is the smallest.
const MaxAmount Amount = 99_999_999_999

// ParseAmount parses a non-negative amount in yuan written as decimal text: digits, an
// optional decimal point with digits after it, an optional leading "+". At most two
// decimals carry value (further decimals must be zeros: nothing is rounded); no sign
// other than "+", no exponent, no grouping, at most MaxAmount. It is for sums a holder
// is asked to pay (an order); record amounts may be negative, see ParseSignedAmount.
func ParseAmount(s string) (Amount, error) {
	a, err := ParseSignedAmount(s)
	if err != nil {
		return 0, err
	}
	if a < 0 || strings.HasPrefix(s, "-") {
		return 0, errors.New("must not be negative")
	}
	return a, nil
}

// ParseSignedAmount parses an amount in yuan as ParseAmount does, but also with a
// leading "-": spec 8.1.1.1 d 1 lets a number carry "+", "-" and a decimal point. The
// result is within -MaxAmount..MaxAmount; "-0" is 0.
func ParseSignedAmount(s string) (Amount, error) {
	neg, v, err := parseFixed(s, 2, false, 9)
	if err != nil {
		return 0, err
	}
	if neg {
		v = -v
	}
	return Amount(v), nil
}

// String formats a as yuan with exactly two decimals: "798.86", "0.05", "-1.00".
func (a Amount) String() string {
	sign, u := "", uint64(a)
	if a < 0 {
		sign, u = "-", uint64(-(a+1))+1 // also right for the most negative int64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// amount returns the check of an amount field whose format allows intDigits digits
// before the decimal point (n..12,2: 9; n..9,2: 6). The format counts digits and the
// point (C.2 "最长p个数字字符（含小数点）"), not the sign, which spec 8.1.1.1 d 1 allows
// on any number ("可带'＋'号、'－'号、小数点等符号字节"): Appendix C sets no lower bound,
// so zero and negative amounts (a refund, a reversal, a recovered benefit) are valid.
// The canonical form has two decimals and a "-" only below zero.
func amount(intDigits int) func(string) (string, error) {
	return func(s string) (string, error) {
		neg, v, err := parseFixed(s, 2, false, intDigits)
		if err != nil {
			return "", err
		}
		if neg {
			v = -v
		}
		return Amount(v).String(), nil
	}
}

// coordinate returns the check of a longitude (limit 180) or latitude (limit 90): a
// signed decimal with four decimals. More decimals are rounded half away from zero to
// four, as the standard's "小数点后保留4位数字" asks; the canonical form has exactly
// four ("108.5000", "-33.8688", "0.0000").
func coordinate(limit int64) func(string) (string, error) {
	return func(s string) (string, error) {
		neg, v, err := parseFixed(s, 4, true, 3)
		if err != nil {
			return "", err
		}
		if v > limit*10000 {
			return "", fmt.Errorf("%s is outside -%d..%d", quote(s), limit, limit)
		}
		sign := ""
		if neg && v != 0 {
			sign = "-"
		}
		return fmt.Sprintf("%s%d.%04d", sign, v/10000, v%10000), nil
	}
}

// parseFixed parses decimal text exactly into an integer count of 10^-scale units:
// [+|-]digits[.digits]. Leading zeros and surrounding nothing else are allowed. With
// round, decimals beyond scale are rounded half away from zero; without it they must be
// zeros. intDigits bounds the significant digits before the point.
func parseFixed(s string, scale int, round bool, intDigits int) (neg bool, v int64, err error) {
	orig := s
	if s == "" {
		return false, 0, errors.New("empty number")
	}
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		neg = true
		s = s[1:]
	}
	ip, fp, hasPoint := strings.Cut(s, ".")
	if ip == "" || !allDigits(ip) || (hasPoint && (fp == "" || !allDigits(fp))) {
		if strings.ContainsAny(s, "eE") && !strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
		}) {
			return false, 0, errors.New("exponent notation is not accepted: " + quote(orig) + "; write plain decimals such as 798.86")
		}
		return false, 0, errors.New("must be a decimal number such as 798.86, got " + quote(orig))
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) > intDigits {
		return false, 0, fmt.Errorf("%s has more than %d digits before the decimal point", quote(orig), intDigits)
	}
	var ipv int64
	if ip != "" {
		ipv, _ = strconv.ParseInt(ip, 10, 64) // at most intDigits (≤ 9) digits
	}
	frac, up := fp, false
	if len(frac) > scale {
		extra := frac[scale:]
		frac = frac[:scale]
		if !round && strings.Trim(extra, "0") != "" {
			return false, 0, fmt.Errorf("%s has more than %d decimals", quote(orig), scale)
		}
		up = round && extra[0] >= '5'
	}
	frac += strings.Repeat("0", scale-len(frac))
	fv, _ := strconv.ParseInt(frac, 10, 64) // scale digits
	pow := int64(1)
	for i := 0; i < scale; i++ {
		pow *= 10
	}
	v = ipv*pow + fv
	if up {
		v++
	}
	return neg, v, nil
}

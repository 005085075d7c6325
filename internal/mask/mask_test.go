package mask

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"id", IDNumber("110105194912314432"), "**************4432"},
		{"name3", Name("李小明"), "**明"},
		{"name2", Name("王明"), "*明"},
		{"name4", Name("欧阳小明"), "**小明"},
		{"name1", Name("明"), "*"},
		{"bank", BankCard("6222021234560888"), "622*********0888"},
		{"phone", Phone("13312344387"), "133****4387"},
		{"date", Date("20300421"), "****0421"},
		{"date dashes", Date("2030-04-21"), "****-04-21"},
		{"date chinese", Date("2030年04月21日"), "****年04月21日"},
		{"date range", Date("2020.04.21-2030.04.21"), "****.**.**-****.04.21"},
		{"date word", Date("长期"), "*期"},
		{"date short", Date("0421"), "**21"},
		{"addr long", Address("北京市海淀区中关村大街一号院"), "北京市海淀区********"},
		{"addr short", Address("北京市海淀区"), "北京市***"},
		{"empty", IDNumber(""), ""},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestAtLeastHalfHidden(t *testing.T) {
	for _, k := range []Kind{KindIDNumber, KindName, KindBankCard, KindDate, KindAddress} {
		for n := 1; n <= 30; n++ {
			s := strings.Repeat("9", n)
			m := k.Apply(s)
			shown := n - strings.Count(m, "*")
			if utf8.RuneCountInString(m) != n || shown > n/2 {
				t.Errorf("kind %d len %d: %q shows %d", k, n, m, shown)
			}
		}
	}
}

func TestValueNeverPrintsClear(t *testing.T) {
	id := "11010519491231002X"
	v := Of(KindIDNumber, id)
	js, _ := json.Marshal(struct{ ID Value }{v})
	for _, out := range []string{
		fmt.Sprint(v), fmt.Sprintf("%v %s %q %+v %#v", v, v, v, v, v), string(js),
		fmt.Sprintf("%v", struct{ ID Value }{v}),
	} {
		if strings.Contains(out, id) || strings.Contains(out, "1949") {
			t.Errorf("clear value printed: %s", out)
		}
	}
	if v.Clear() != id {
		t.Fatal("Clear lost the value")
	}
}

func TestSecret(t *testing.T) {
	s := Secret("6225880137421234567890abcdef")
	if strings.Contains(s, "62258801") || !strings.Contains(s, "len=28") {
		t.Fatalf("Secret = %s", s)
	}
	if Secret("a") == Secret("b") {
		t.Fatal("fingerprints collide")
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"holder 11010519491231002X read", "holder **************002X read"},
		{"id=110105194912310021,", "id=**************0021,"},
		{"phone 13312344387 ok", "phone 133****4387 ok"},
		{"card 6222021234560888", "card 622*********0888"},
		{"amount 1234.56 seq 42 code [900001]", "amount 1234.56 seq 42 code [900001]"},
		{"rid 0a1b2c3d4e5f60718293a4b5c6d7e8f9", "rid 0a1b2c3d4e5f60718293a4b5c6d7e8f9"},
		{"x110105194912310021", "x**************0021"},
		{"ID110105194912314432 card6222021234560888", "ID**************4432 card622*********0888"},
		{"holder_11010519491231002X_end", "holder_**************002X_end"},
		{"req a110105194912314432b", "req a110105194912314432b"},
		{"号码110105194912314432。", "号码**************4432。"},
		{"old id 110105491231002", "old id ***********1002"},
		{"20240506123456789012", "20240506123456789012"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzText(f *testing.F) {
	f.Add("holder 11010519491231002X read")
	f.Add("13312344387")
	f.Add("ID110105194912314432/0a1b2c3d4e5f60718293a4b5c6d7e8f9")
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if len(out) != len(s) {
			t.Fatalf("length changed: %q -> %q", s, out)
		}
		if again := Text(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
		// No ID-shaped run (17 digits and a digit or X, not part of a longer digit run)
		// survives outside a hexadecimal token.
		for i := 0; i+18 <= len(out); i++ {
			if (i == 0 || !isDigit(out[i-1])) && allDigits(out[i:i+17]) &&
				(i+18 == len(out) || !isDigit(out[i+18])) && (isDigit(out[i+17]) || out[i+17] == 'X') &&
				!inHexToken(out, i) {
				t.Fatalf("unmasked ID-shaped run in %q", out)
			}
		}
	})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// inHexToken reports whether position i of s lies in an ASCII alphanumeric token that
// is hexadecimal with a letter.
func inHexToken(s string, i int) bool {
	a, b := i, i
	for a > 0 && isAlnum(s[a-1]) {
		a--
	}
	for b < len(s) && isAlnum(s[b]) {
		b++
	}
	return isHexWord(s[a:b])
}

func TestKindString(t *testing.T) {
	for k := KindIDNumber; k <= KindSecret; k++ {
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if Kind(0).String() != "kind(0)" || Kind(0).Apply("x") != Secret("x") {
		t.Error("zero Kind")
	}
}

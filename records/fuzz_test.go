package records

import (
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse: Parse never panics; a refusal is a *ValidationError whose every problem
// names a field, a rule and a reason; an accepted record validates, encodes, and parses
// back from its encoding to the same record and the same bytes.
func FuzzParse(f *testing.F) {
	kinds := Kinds()
	for i, k := range kinds {
		f.Add(uint8(i), []byte(examples[k]))
		enc, _ := Encode(mustParseF(k, examples[k]))
		f.Add(uint8(i), enc)
	}
	f.Add(uint8(0), []byte(`{"accessNo":"010122310011","accessNo":1}`))
	f.Add(uint8(1), []byte(`{"amount":7.9886e2,"longitude":-0.00005,"x":[{}]}`))
	f.Add(uint8(2), []byte(`{"payoutTime":"2022-01-01T06:28:36Z","creditedTime":"2022-01-01 14:28:35"}`))
	f.Add(uint8(0), []byte(`{"scene":"０２／ 工伤","credentialType":"电子社会保障卡人脸识别 \n认证"}`))
	f.Add(uint8(1), []byte(`{"amount":"-0.00","cardType":"社保卡","paymentScene":" 就业创业 ／x","coordinateSystem":"WGS84"}`))
	f.Add(uint8(2), []byte(`{"amount":-600.86,"benefitType":"港澳","payoutStatus":"成功","payoutFailureReason":"账户不匹配"}`))
	f.Add(uint8(1), []byte("\uFEFF{}"))
	f.Add(uint8(3), []byte(`{}`))
	f.Fuzz(func(t *testing.T, ki uint8, raw []byte) {
		k := Kind("bogus")
		if int(ki) < len(kinds) {
			k = kinds[ki]
		}
		r, err := Parse(k, raw)
		if err != nil {
			if r != nil {
				t.Fatal("record with error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Kind != k || len(ve.Fields) == 0 || len(ve.Fields) > maxProblems+1 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, fe := range ve.Fields {
				if fe.Field == "" || fe.Rule == "" || fe.Reason == "" || !utf8.ValidString(fe.Reason) {
					t.Fatalf("problem without field, rule or reason: %+v", fe)
				}
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed record does not validate: %v", err)
		}
		before := reflect.ValueOf(r).Elem().Interface()
		if err := r.Normalize(); err != nil || reflect.ValueOf(r).Elem().Interface() != before {
			t.Fatalf("parsed record not canonical: %v", err)
		}
		enc, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(k, enc)
		if err != nil {
			t.Fatalf("encoding does not parse: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
		if enc2, _ := Encode(r2); string(enc2) != string(enc) {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func mustParseF(k Kind, raw string) Record {
	r, err := Parse(k, []byte(raw))
	if err != nil {
		panic(err)
	}
	return r
}

// FuzzAmount checks amounts against math/big: an accepted amount is exactly the decimal
// value of its text, its canonical form parses to the same amount, the field check
// accepts exactly what ParseSignedAmount accepts, and ParseAmount the non-negative part.
func FuzzAmount(f *testing.F) {
	for _, s := range []string{"798.86", "0", "+0798.860", "999999999.99", "1000000000", "1.005", "-1", "-0.00", "-999999999.99", "1e2", ".5", "5.", "00000000000000000001.10", "--1"} {
		f.Add(s)
	}
	check := amount(9)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseSignedAmount(s)
		c, cerr := check(s)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("%q: ParseSignedAmount %v, field check %v", s, err, cerr)
		}
		u, uerr := ParseAmount(s)
		if uerr == nil && (err != nil || u != a || strings.HasPrefix(s, "-")) {
			t.Fatalf("%q: ParseAmount %d accepts what ParseSignedAmount gives as %d, %v", s, u, a, err)
		}
		if err != nil {
			return
		}
		if uerr != nil && !strings.HasPrefix(s, "-") {
			t.Fatalf("%q: ParseAmount refuses an unsigned amount: %v", s, uerr)
		}
		if a < -MaxAmount || a > MaxAmount {
			t.Fatalf("%q -> %d out of range", s, a)
		}
		want, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok || strings.ContainsAny(s, "eE/") {
			t.Fatalf("accepted %q, which is not plain decimal text", s)
		}
		if got := new(big.Rat).SetFrac64(int64(a), 100); got.Cmp(want) != 0 {
			t.Fatalf("%q -> %s, exact value %s", s, got.FloatString(4), want.FloatString(4))
		}
		if a2, err := ParseSignedAmount(a.String()); err != nil || a2 != a {
			t.Fatalf("%q -> %s -> %d, %v", s, a, a2, err)
		}
		if c != a.String() || c == "-0.00" {
			t.Fatalf("canonical %q, want %q", c, a.String())
		}
		if c2, err := check(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, c2, err)
		}
	})
}

// FuzzCoordinate: an accepted coordinate is within range, at most half a unit of the
// fourth decimal away from the exact value sent, and canonical on re-parse.
func FuzzCoordinate(f *testing.F) {
	for _, s := range []string{"108.5377", "-108.53775", "180", "180.00005", "-0.00004", "39.5", "+90.0000", "1e1", "999.9"} {
		f.Add(s, false)
	}
	half := big.NewRat(1, 20000)
	f.Fuzz(func(t *testing.T, s string, lat bool) {
		limit := int64(180)
		if lat {
			limit = 90
		}
		check := coordinate(limit)
		c, err := check(s)
		if err != nil {
			return
		}
		exact, ok := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		if !ok || strings.ContainsAny(s, "eE/") {
			t.Fatalf("accepted %q, which is not plain decimal text", s)
		}
		got, _ := new(big.Rat).SetString(c)
		if d := new(big.Rat).Sub(got, exact); d.Abs(d).Cmp(half) > 0 {
			t.Fatalf("%q -> %q: off by more than half a unit", s, c)
		}
		if got.Abs(got).Cmp(big.NewRat(limit, 1)) > 0 {
			t.Fatalf("%q -> %q: out of range", s, c)
		}
		if i := strings.IndexByte(c, '.'); i < 0 || len(c)-i-1 != 4 || c == "-0.0000" {
			t.Fatalf("%q -> %q: not four decimals", s, c)
		}
		if c2, err := check(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, c2, err)
		}
	})
}

// FuzzDateTime: an accepted datetime is a real time with a four-digit year, its canonical form
// parses with time.Parse to the same instant and re-parses to itself.
func FuzzDateTime(f *testing.F) {
	for _, s := range []string{"2022-01-01 14:28:36", "2022-01-01T06:28:36Z", "2024-02-29T23:59:59-14:00", "2023-02-29 00:00:00", "2022-01-01 14:28:36.5", "2099-12-31T23:00:00-05:00", "1970-01-01 08:00:00", "0000-01-01T00:00:00+08:00", "9999-12-31T15:59:59Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseDateTime(s)
		if err != nil {
			return
		}
		c, err := dateTime(s)
		if err != nil {
			t.Fatalf("ParseDateTime accepts %q, the field check does not: %v", s, err)
		}
		if tm.Year() < minYear || tm.Year() > maxYear {
			t.Fatalf("%q: year %d is not four digits", s, tm.Year())
		}
		ref, err := time.ParseInLocation(DateTimeLayout, c, beijing)
		if err != nil || !ref.Equal(tm) {
			t.Fatalf("%q -> %q: time.Parse gives %v, %v; want %v", s, c, ref, err, tm)
		}
		if c2, err := dateTime(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, c2, err)
		}
		if FormatDateTime(tm) != c {
			t.Fatalf("FormatDateTime %q, canonical %q", FormatDateTime(tm), c)
		}
	})
}

// FuzzScene: the 应用场景 parser is idempotent, its head is a C.7 label or reported as
// unlisted, and only the head is ever reported.
func FuzzScene(f *testing.F) {
	for _, s := range []string{"02/工伤医疗费用结算", "人力资源和社会保障服务／ x ", "交通出行应用/", "就业创业/登记", "０３", "人社服务", "/x", " 就业 创业 /a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := scene(s)
		if err != nil {
			return
		}
		head, _, _ := cutSlash(c)
		if head == "" || head != strings.TrimSpace(head) {
			t.Fatalf("%q -> %q: bad head", s, c)
		}
		u := sceneUnlisted(c)
		if v, ok := RangeScene.Lookup(head); ok {
			if v.Label != head || u != "" {
				t.Fatalf("%q -> %q: listed head not canonical or reported (%q)", s, c, u)
			}
		} else if u != head {
			t.Fatalf("%q -> %q: unlisted head reported as %q", s, c, u)
		}
		if c2, err := scene(c); err != nil || c2 != c {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, c, c2, err)
		}
	})
}

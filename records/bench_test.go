package records

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse measures Parse (decode, validate, normalise) of each spec example.
func BenchmarkParse(b *testing.B) {
	for _, k := range Kinds() {
		raw := []byte(examples[k])
		b.Run(string(k), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(k, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode measures Encode (validate again, canonical JSON) of a parsed payment.
func BenchmarkEncode(b *testing.B) {
	r, err := Parse(KindPayment, []byte(examplePayment))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseHostile measures refusals: a record with every field wrong, and a
// MaxSize record of unknown members (the problem list is capped).
func BenchmarkParseHostile(b *testing.B) {
	bad := []byte(`{"accessNo":"1","regionCode":"000000","cardType":"x","paymentScene":"y","amount":"-1",
		"paidTime":"now","settlementMethod":"00","settlementType":"00","payerSocialSecurityNo":"1","extra":1}`)
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; sb.Len() < MaxSize-40; i++ {
		fmt.Fprintf(&sb, `"unknownMember%d":"value",`, i)
	}
	sb.WriteString(`"z":1}`)
	flood := []byte(sb.String())
	for name, raw := range map[string][]byte{"invalid": bad, "flood": flood} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(KindPayment, raw); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

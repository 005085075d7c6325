package cardsim

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/psam"
)

// TestPublishedTestKeys pins the test key values docs/card.md publishes, so another
// implementation can be checked against them.
func TestPublishedTestKeys(t *testing.T) {
	for _, c := range []struct {
		name string
		alg  card.Algorithm
		want string
	}{
		{KeyIRK, card.AlgDES, "F03F15CCC9F4FB6432231E424D33B8F6"},
		{KeyRK, card.AlgDES, "615DE6231130DC4AAB2DECDF34DFC192"},
		{KeyIRK, card.AlgSM4, "8BF1AF6237EEAD71EF2BBB6884EACCF4"},
		{KeyRK, card.AlgSM4, "412B652B305D6C73AA5768E862B273C0"},
	} {
		if got := strings.ToUpper(hex.EncodeToString(TestRootKey(c.name, c.alg))); got != c.want {
			t.Errorf("root %s %s = %s, published %s", c.name, c.alg.Name(), got, c.want)
		}
	}
	for _, c := range []struct {
		profile, irk, rk, session, answer string
	}{
		{"zhangsan", "F110EB592048AB1883CC8AFBCC464CA2", "4754B45497C89D908EF8BA24C9019BF2", "908B658A18F3B66136679EBD610382E3", "8D9E0C043CE13DC5"},
		{"lisi", "FE9CC8A1A2F78F61695BB0C3A5B84B29", "4D54C6B17B945920F53271F2ABE3F86F", "32AFE9BEB6963B2D", "18DAF5072870548E"},
	} {
		p, _ := Shipped(c.profile)
		r, err := p.build()
		if err != nil {
			t.Fatal(err)
		}
		irk, _ := CardKey(KeyIRK, r.alg, p.Region(), r.hist)
		rk, _ := CardKey(KeyRK, r.alg, p.Region(), r.hist)
		ch := card.Challenge{Factor: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Data: [8]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}}
		sk, _ := psam.SessionKey(r.alg, irk, ch.Factor[:])
		ans, _ := psam.Authenticate(r.alg, irk, ch)
		for _, v := range []struct{ what, got, want string }{
			{"IRK", hexU(irk), c.irk}, {"RKSSSE", hexU(rk), c.rk}, {"session key", hexU(sk), c.session}, {"answer", hexU(ans[:]), c.answer},
		} {
			if v.got != v.want {
				t.Errorf("%s %s = %s, published %s", c.profile, v.what, v.got, v.want)
			}
		}
	}
}

func hexU(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

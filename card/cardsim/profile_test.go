package cardsim

import (
	"strings"
	"testing"
)

func TestShippedProfiles(t *testing.T) {
	names := ShippedNames()
	if strings.Join(names, ",") != "bankcard,lisi,zhangsan,zhaoliu" {
		t.Fatalf("shipped %v", names)
	}
	for _, n := range names {
		p, err := Shipped(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if _, err := NewCard(p); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if _, err := LoadProfileOrShipped("nobody"); err == nil || !strings.Contains(err.Error(), "zhangsan") {
		t.Fatalf("unknown profile: %v", err)
	}
	if _, err := LoadProfileOrShipped("testdata/lisi.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestProfileErrors(t *testing.T) {
	good, _ := shipped.ReadFile("testdata/lisi.yaml")
	for _, c := range []struct{ old, new, want string }{
		{"algorithm: DES", "algorithm: AES", "algorithm"},
		{"cardNo: D20000029", "cardNo: D200000290", "ef05.cardNo"},
		{"ssn: \"350121198511160027\"", "ssn: \"3501211985111600271\"", "ef06.ssn"},
		{"350100D156000005200000027B2D0F42", "350100D156000006200000027B2D0F42", "ef05.cardId"},
		{"birthDate: \"19851116\"", "birthDate: \"1985111X\"", "ef06.birthDate"},
		{"atr: 3B6D000000544553545353350120000002", "atr: 3B6C0000005445535453533501200000", "historical bytes"},
		{"label:", "lable:", "lable"},
		{"name: 李四", "name: \"\"", "ef06.name"},
	} {
		_, err := ParseProfile([]byte(strings.Replace(string(good), c.old, c.new, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v", c.old, c.new, err)
		}
	}
}

func FuzzParseProfile(f *testing.F) {
	for _, n := range ShippedNames() {
		b, _ := shipped.ReadFile("testdata/" + n + ".yaml")
		f.Add(b)
	}
	f.Add([]byte("atr: 3B00\nalgorithm: SM4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProfile(b)
		if err != nil {
			return
		}
		c, err := NewCard(p)
		if err != nil {
			t.Fatalf("parsed profile but no card: %v", err)
		}
		c.Reset()
		_, _ = c.Process([]byte{0x00, 0xA4, 0x04, 0x00, 0x0F, 0x73, 0x78, 0x31, 0x2E, 0x73, 0x68, 0x2E, 0xC9, 0xE7, 0xBB, 0xE1, 0xB1, 0xA3, 0xD5, 0xCF})
		_, _ = c.Process([]byte{0x00, 0xB2, 0x01, 0x2D, 0x40})
	})
}

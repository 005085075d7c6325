package psam

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/internal/labtest"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSM4Vector is the GB/T 32907 example.
func TestSM4Vector(t *testing.T) {
	k := mustHex(t, "0123456789abcdeffedcba9876543210")
	got, err := EncryptECB(card.AlgSM4, k, k)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != "681edf34d206965e86b3e94f536e4246" {
		t.Fatalf("SM4 %x", got)
	}
}

func TestFactors(t *testing.T) {
	hist := mustHex(t, "00814A444686605199000001AC")
	f, err := Factors("650100", hist, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(f[1][:]) != "650100sx" || string(f[2][:]) != "650000sh" || hex.EncodeToString(f[0][:]) != "86605199000001ac" {
		t.Fatalf("factors %q", f)
	}
	if cf := CityFactor("331100"); string(cf[:]) != "331100sx" {
		t.Fatalf("Zhejiang city factor %q", cf)
	}
	if f, _ := Factors("350100", hist, 2); len(f) != 2 {
		t.Fatal("levels not trimmed")
	}
	for _, bad := range []struct {
		region string
		hist   []byte
		levels int
	}{{"35010", hist, 3}, {"35A100", hist, 3}, {"350100", hist[:12], 3}, {"350100", hist, 0}, {"350100", hist, 4}} {
		if _, err := Factors(bad.region, bad.hist, bad.levels); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// openssl encrypts data with an ECB cipher in OpenSSL 3, an independent implementation.
func openssl(t *testing.T, cipher string, key, data []byte) []byte {
	t.Helper()
	cmd := exec.Command("openssl", "enc", "-"+cipher, "-K", hex.EncodeToString(key), "-nopad")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v", cipher, err)
	}
	return out
}

// opensslDES is DES or 3DES in ECB: OpenSSL 3 has single DES only in the legacy
// provider, and 3DES with K1=K2 is single DES.
func opensslDES(t *testing.T, key, data []byte) []byte {
	if len(key) == 8 {
		key = append(append([]byte(nil), key...), key...)
	}
	return openssl(t, "des-ede-ecb", key, data)
}

// TestAgainstOpenSSL recomputes diversification, session keys and authentication data
// with OpenSSL 3 from the definitions in domain.md §2.1-2.2 and compares.
func TestAgainstOpenSSL(t *testing.T) {
	labtest.Require(t, "openssl")
	hist := mustHex(t, "00544553545353350130000001")
	for _, alg := range []card.Algorithm{card.AlgDES, card.AlgSM4} {
		t.Run(alg.Name(), func(t *testing.T) {
			enc := func(key, data []byte) []byte {
				if alg == card.AlgSM4 {
					return openssl(t, "sm4-ecb", key, data)
				}
				return opensslDES(t, key, data)
			}
			root := make([]byte, 16)
			_, _ = rand.Read(root)
			factors, err := Factors("350100", hist, 3)
			if err != nil {
				t.Fatal(err)
			}
			// Three levels, highest first: parent -> E(f || ~f).
			want := root
			for i := 2; i >= 0; i-- {
				f := factors[i]
				inv := make([]byte, 8)
				for j := range inv {
					inv[j] = ^f[j]
				}
				want = enc(want, append(f[:], inv...))
			}
			got, err := DeriveKey(alg, root, factors...)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("card key %x, OpenSSL %x", got, want)
			}
			var c card.Challenge
			_, _ = rand.Read(c.Factor[:])
			_, _ = rand.Read(c.Data[:])
			bs := alg.BlockSize()
			pad := func(b []byte) []byte { return append(append([]byte(nil), b...), make([]byte, bs-len(b))...) }
			session := enc(want, pad(c.Factor[:]))
			block := enc(session, pad(c.Data[:]))
			wantAuth := block[:8]
			if bs == 16 {
				wantAuth = make([]byte, 8)
				for i := range wantAuth {
					wantAuth[i] = block[i] ^ block[8+i]
				}
			}
			auth, err := Authenticate(alg, got, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(auth[:], wantAuth) {
				t.Fatalf("auth data %x, OpenSSL %x", auth, wantAuth)
			}
		})
	}
}

func TestCryptoErrors(t *testing.T) {
	if _, err := Block(card.AlgSSF33, make([]byte, 16)); err == nil || !strings.Contains(err.Error(), "SSF33") {
		t.Fatalf("SSF33: %v", err)
	}
	if _, err := Block(card.AlgDES, make([]byte, 10)); err == nil {
		t.Fatal("10-byte DES key accepted")
	}
	if _, err := Block(card.AlgSM4, make([]byte, 8)); err == nil {
		t.Fatal("8-byte SM4 key accepted")
	}
	if _, err := EncryptECB(card.AlgSM4, make([]byte, 16), make([]byte, 15)); err == nil {
		t.Fatal("partial block accepted")
	}
	if _, err := SessionKey(card.AlgDES, make([]byte, 16), make([]byte, 9)); err == nil {
		t.Fatal("9-byte DES factor accepted")
	}
	if _, err := Diversify(card.AlgDES, make([]byte, 8), [8]byte{}); err == nil {
		t.Fatal("single-length DES parent accepted")
	}
}

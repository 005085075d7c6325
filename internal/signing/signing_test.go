package signing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, alg := range []Algorithm{SM2, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			k, err := Generate(alg)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("config v7 for T001")
			sig, err := k.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Public().Verify(msg, sig); err != nil {
				t.Fatalf("own signature: %v", err)
			}
			other, _ := Generate(alg)
			altered := append([]byte(nil), msg...)
			altered[0] ^= 1
			for name, err := range map[string]error{
				"altered message": k.Public().Verify(altered, sig),
				"other key":       other.Public().Verify(msg, sig),
				"truncated":       k.Public().Verify(msg, sig[:len(sig)-1]),
				"empty":           k.Public().Verify(msg, nil),
			} {
				if !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s: %v, want ErrBadSignature", name, err)
				}
			}
			// PEM round trip keeps the key and its ID.
			privPEM, err := k.MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			k2, err := ParsePrivateKey(privPEM)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, _ := k.Public().MarshalPEM()
			p2, err := ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			if k2.Public().ID() != k.Public().ID() || p2.ID() != k.Public().ID() || len(p2.ID()) != 16 {
				t.Fatalf("ids %s %s %s", k2.Public().ID(), p2.ID(), k.Public().ID())
			}
			if k2.Algorithm() != alg || p2.Algorithm() != alg {
				t.Fatalf("algorithms %s %s", k2.Algorithm(), p2.Algorithm())
			}
			ring := Keyring{other.Public(), p2}
			if err := ring.Verify(k.Public().ID(), msg, sig); err != nil {
				t.Fatalf("keyring: %v", err)
			}
			if err := ring.Verify("0000000000000000", msg, sig); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("unknown key: %v", err)
			}
		})
	}
}

func TestParseRefusesOtherKeys(t *testing.T) {
	for name, in := range map[string]string{
		"empty":    "",
		"garbage":  "not a key",
		"cert":     "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"bad der":  "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"p256 key": p256Pub,
	} {
		if _, err := ParsePublicKey([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")); !errors.Is(err, ErrKeyFormat) {
		t.Errorf("SEC1 private key: %v", err)
	}
}

// A NIST P-256 public key: an ECDSA key, but not on the SM2 curve.
const p256Pub = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjF4mWo4yyNdgRfzjDh6qAIubUMWc
3iycvJK+r/uqsGKQgpqGiZ5bWvOnkZ7Exj1r2VmdEU1Nn5A+XUqMx9yNhw==
-----END PUBLIC KEY-----
`

// OpenSSL 3 is the independent check: it verifies what we sign, we verify what it signs,
// and the key ID is SHA-256 over the DER OpenSSL writes.
func TestOpenSSLInterop(t *testing.T) {
	labtest.Require(t, "openssl")
	for _, alg := range []Algorithm{SM2, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			dir := t.TempDir()
			run := func(args ...string) []byte {
				t.Helper()
				cmd := exec.Command("openssl", args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			write := func(name string, b []byte) {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			k, _ := Generate(alg)
			privPEM, _ := k.MarshalPEM()
			pubPEM, _ := k.Public().MarshalPEM()
			write("k.pem", privPEM)
			write("pub.pem", pubPEM)
			msg := []byte(`{"v":1,"terminal":"T001","version":7}`)
			write("msg", msg)
			sig, _ := k.Sign(msg)
			write("sig", sig)
			verifyArgs := []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile", "sig"}
			signArgs := []string{"pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-in", "msg", "-out", "osig"}
			if alg == SM2 {
				verifyArgs = []string{"dgst", "-sm3", "-verify", "pub.pem", "-sigopt", "distid:" + DefaultSignerID, "-signature", "sig", "msg"}
				signArgs = []string{"dgst", "-sm3", "-sign", "k.pem", "-sigopt", "distid:" + DefaultSignerID, "-out", "osig", "msg"}
			}
			if out := run(verifyArgs...); !bytes.Contains(out, []byte("Verified")) {
				t.Fatalf("openssl did not verify: %s", out)
			}
			run(signArgs...)
			osig, _ := os.ReadFile(filepath.Join(dir, "osig"))
			if err := k.Public().Verify(msg, osig); err != nil {
				t.Fatalf("openssl's signature: %v", err)
			}
			run("pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der")
			der, _ := os.ReadFile(filepath.Join(dir, "pub.der"))
			p, err := ParsePublicKey(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256Hex(der)[:16]; got != p.ID() {
				t.Fatalf("id %s, openssl DER gives %s", p.ID(), got)
			}
			// A key OpenSSL generated reads here.
			if alg == SM2 {
				run("genpkey", "-algorithm", "SM2", "-out", "o.pem")
			} else {
				run("genpkey", "-algorithm", "ED25519", "-out", "o.pem")
			}
			o, _ := os.ReadFile(filepath.Join(dir, "o.pem"))
			if ok, err := ParsePrivateKey(o); err != nil || ok.Algorithm() != alg {
				t.Fatalf("openssl key: %v", err)
			}
		})
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, alg := range []Algorithm{SM2, Ed25519} {
		k, _ := Generate(alg)
		p, _ := k.Public().MarshalPEM()
		f.Add(p)
	}
	f.Add([]byte(p256Pub))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		// A parsed key re-encodes and reads back as the same key.
		out, err := p.MarshalPEM()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePublicKey(out)
		if err != nil || q.ID() != p.ID() {
			t.Fatalf("re-read: %v", err)
		}
	})
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

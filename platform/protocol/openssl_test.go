package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

// OpenSSL 3 is the independent SM2/SM3/SM4 implementation these tests check against:
// what this package writes, openssl reads, and the other way round.

func openssl(t *testing.T, dir string, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	return cmd.CombinedOutput()
}

func mustOpenSSL(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := openssl(t, dir, stdin, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSSLVerifiesVectors(t *testing.T) {
	labtest.Require(t, "openssl")
	dir := t.TempDir()
	for _, n := range []string{"channel.pub.pem", "platform.pub.pem", "request.canonical.txt", "request.sig.der", "response.canonical.txt"} {
		writeFile(t, dir, n, []byte(readVector(t, n)))
	}
	verify := func(pub, sig, msg string) ([]byte, error) {
		return openssl(t, dir, nil, "dgst", "-sm3", "-verify", pub, "-sigopt", "distid:"+DefaultSignerID, "-signature", sig, msg)
	}
	if out, err := verify("channel.pub.pem", "request.sig.der", "request.canonical.txt"); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("request vector: %v %s", err, out)
	}
	// The response's signature, taken from its JSON.
	resp, _, err := ParseResponse([]byte(readVector(t, "response.json")))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(resp.Signature)
	writeFile(t, dir, "response.sig.der", der)
	if out, err := verify("platform.pub.pem", "response.sig.der", "response.canonical.txt"); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("response vector: %v %s", err, out)
	}
	// One changed byte, the wrong key, or another signer id: openssl refuses too.
	canon := []byte(readVector(t, "request.canonical.txt"))
	canon[len(canon)-1] ^= 1
	writeFile(t, dir, "altered.txt", canon)
	if out, err := verify("channel.pub.pem", "request.sig.der", "altered.txt"); err == nil {
		t.Fatalf("openssl verified an altered message: %s", out)
	}
	if out, err := verify("platform.pub.pem", "request.sig.der", "request.canonical.txt"); err == nil {
		t.Fatalf("openssl verified with the wrong key: %s", out)
	}
	out, err := openssl(t, dir, nil, "dgst", "-sm3", "-verify", "channel.pub.pem", "-sigopt", "distid:1234567812345679",
		"-signature", "request.sig.der", "request.canonical.txt")
	if err == nil {
		t.Fatalf("openssl verified under another signer id: %s", out)
	}
}

// TestOpenSSLKeysAndSignatures: keys openssl generates load here; signatures made here
// verify there and the other way round, for the default and a custom signer id.
func TestOpenSSLKeysAndSignatures(t *testing.T) {
	labtest.Require(t, "openssl")
	dir := t.TempDir()
	mustOpenSSL(t, dir, nil, "genpkey", "-algorithm", "SM2", "-out", "k.pem")
	mustOpenSSL(t, dir, nil, "pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem")
	kpem, _ := os.ReadFile(filepath.Join(dir, "k.pem"))
	ppem, _ := os.ReadFile(filepath.Join(dir, "pub.pem"))
	key, err := ParsePrivateKey(kpem)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(ppem)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().Equal(pub) {
		t.Fatal("openssl's public key is not the public half of its private key here")
	}
	// Our PEM files read back in openssl.
	ours, _ := GenerateKey()
	opem, _ := ours.MarshalPEM()
	opub, _ := ours.Public().MarshalPEM()
	writeFile(t, dir, "ours.pem", opem)
	writeFile(t, dir, "ours.pub.pem", opub)
	mustOpenSSL(t, dir, nil, "pkey", "-in", "ours.pem", "-noout", "-check")
	msg := []byte("channelNo=350100000001&data={\"name\":\"张三\"}&requestId=00112233445566778899aabbccddeeff&timestamp=2026-11-24 10:00:00")
	writeFile(t, dir, "msg.txt", msg)

	for _, uid := range []string{"", "ABCDEFGH"} {
		s := Scheme{SignerID: uid}
		distid := "distid:" + string(s.uid())
		// Ours to openssl, DER and raw (converted back to DER for openssl).
		sig, err := s.Sign(ours, msg)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := base64.StdEncoding.DecodeString(sig)
		writeFile(t, dir, "sig.der", der)
		if out, err := openssl(t, dir, nil, "dgst", "-sm3", "-verify", "ours.pub.pem", "-sigopt", distid, "-signature", "sig.der", "msg.txt"); err != nil {
			t.Fatalf("uid %q: openssl refused our signature: %s", uid, out)
		}
		// openssl to ours.
		mustOpenSSL(t, dir, nil, "dgst", "-sm3", "-sign", "k.pem", "-sigopt", distid, "-out", "osig.der", "msg.txt")
		osig, _ := os.ReadFile(filepath.Join(dir, "osig.der"))
		if err := s.Verify(pub, msg, base64.StdEncoding.EncodeToString(osig)); err != nil {
			t.Fatalf("uid %q: openssl's signature does not verify here: %v", uid, err)
		}
		// The same signature as raw r||s in hex.
		r, ss, err := parseDER(osig)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 64)
		r.FillBytes(raw[:32])
		ss.FillBytes(raw[32:])
		rs := Scheme{SignerID: uid, Format: FormatRaw, Encoding: Hex}
		if err := rs.Verify(pub, msg, hex.EncodeToString(raw)); err != nil {
			t.Fatalf("uid %q: raw hex form of openssl's signature: %v", uid, err)
		}
		if err := s.Verify(pub, append([]byte("x"), msg...), base64.StdEncoding.EncodeToString(osig)); err == nil {
			t.Fatal("altered message verified")
		}
	}
}

// TestOpenSSLSM4 checks CBC (IV in front) and ECB, PKCS#7, both directions.
func TestOpenSSLSM4(t *testing.T) {
	labtest.Require(t, "openssl")
	dir := t.TempDir()
	key, _ := NewSM4Key()
	khex := hex.EncodeToString(key)
	for _, plain := range []string{"350102199003077898", "张三", "", "exactly16bytes!!", strings.Repeat("长", 40)} {
		// Ours to openssl, CBC.
		c, _ := NewFieldCipher(key, SM4CBC, Base64)
		ct, err := c.Encrypt(plain)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := base64.StdEncoding.DecodeString(ct)
		out := mustOpenSSL(t, dir, b[16:], "enc", "-d", "-sm4-cbc", "-K", khex, "-iv", hex.EncodeToString(b[:16]))
		if string(out) != plain {
			t.Fatalf("cbc: openssl decrypted %q, want %q", out, plain)
		}
		// openssl to ours, CBC.
		iv := "0f0e0d0c0b0a09080706050403020100"
		oct := mustOpenSSL(t, dir, []byte(plain), "enc", "-sm4-cbc", "-K", khex, "-iv", iv)
		ivb, _ := hex.DecodeString(iv)
		got, err := c.Decrypt(base64.StdEncoding.EncodeToString(append(ivb, oct...)))
		if err != nil || got != plain {
			t.Fatalf("cbc: openssl's ciphertext decrypts to %q, %v", got, err)
		}
		// ECB, hex, both ways.
		e, _ := NewFieldCipher(key, SM4ECB, Hex)
		ect, _ := e.Encrypt(plain)
		eb, _ := hex.DecodeString(ect)
		if out := mustOpenSSL(t, dir, eb, "enc", "-d", "-sm4-ecb", "-K", khex); string(out) != plain {
			t.Fatalf("ecb: openssl decrypted %q", out)
		}
		oect := mustOpenSSL(t, dir, []byte(plain), "enc", "-sm4-ecb", "-K", khex)
		if got, err := e.Decrypt(strings.ToUpper(hex.EncodeToString(oect))); err != nil || got != plain {
			t.Fatalf("ecb: openssl's ciphertext decrypts to %q, %v", got, err)
		}
	}
	// The vector's idNumber ciphertext, decrypted by openssl with the vector key.
	b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(readVector(t, "sm4-idnumber.txt")))
	vk := strings.TrimSpace(readVector(t, "sm4.key"))
	if out := mustOpenSSL(t, dir, b[16:], "enc", "-d", "-sm4-cbc", "-K", vk, "-iv", hex.EncodeToString(b[:16])); string(out) != vectorID {
		t.Fatalf("vector idNumber: openssl decrypted %q", out)
	}
}

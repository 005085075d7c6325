package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(readVector(f, "request.json")))
	f.Add([]byte(readVector(f, "response.json")))
	f.Add([]byte(`{"a":"b","a":"c"}`))
	f.Add([]byte(`{"data":"{\"x\":[{\"y\":\"z\"}]}"}`))
	f.Add([]byte("{\"a\":\"\\ud800\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, fields, err := ParseRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		// What parsed re-encodes to an envelope with the same canonical string.
		_ = req.CheckFields()
		out := EncodeObject(fields)
		_, again, err := ParseRequest([]byte(out))
		if err != nil {
			t.Fatalf("re-encoded envelope does not parse: %v\n%s", err, out)
		}
		if Canonical(again) != Canonical(fields) {
			t.Fatalf("canonical string changed on re-encoding")
		}
		if _, _, err := ParseResponse(b); err != nil {
			t.Fatalf("request parsed but response did not: %v", err)
		}
	})
}

func FuzzParseData(f *testing.F) {
	f.Add(`{"a":"b","records":[{"recordId":"1","record":"{}"}]}`)
	f.Add(`{"a":[{"b":"c"},{}]}`)
	f.Add(`{}`)
	f.Add(`{"a":"\u003c"}`)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseData(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		enc := d.Encode()
		d2, err := ParseData(enc)
		if err != nil {
			t.Fatalf("encoded data does not parse: %v\n%s", err, enc)
		}
		if d2.Encode() != enc {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, d2.Encode())
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	key := TestSM4Key("350100000001")
	ciphers := map[SM4Mode][]*FieldCipher{}
	for _, m := range []SM4Mode{SM4CBC, SM4ECB, SM4GCM} {
		for _, e := range []Encoding{Base64, Hex} {
			c, err := NewFieldCipher(key, m, e)
			if err != nil {
				f.Fatal(err)
			}
			ciphers[m] = append(ciphers[m], c)
			ct, _ := c.Encrypt("350102199003077898")
			f.Add(ct)
		}
	}
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		for _, cs := range ciphers {
			for _, c := range cs {
				pt, err := c.Decrypt(s)
				if err != nil {
					if !errors.Is(err, ErrDecrypt) {
						t.Fatalf("error without ErrDecrypt: %v", err)
					}
					continue
				}
				if c.mode == SM4ECB { // deterministic: encrypting the plaintext gives the input back
					ct, _ := c.Encrypt(pt)
					if back, _ := c.Decrypt(ct); back != pt {
						t.Fatal("round trip")
					}
				}
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	k := TestKey(TestPlatformLabel)
	msg := []byte("a=b")
	for _, s := range []Scheme{{}, {Format: FormatRaw, Encoding: Hex}} {
		sig, _ := s.Sign(k, msg)
		f.Add(sig)
	}
	f.Add("MAYCAQECAQE=") // SEQUENCE{1, 1}
	f.Fuzz(func(t *testing.T, sig string) {
		for _, s := range []Scheme{{}, {Format: FormatRaw}, {Encoding: Hex}, {Format: FormatRaw, Encoding: Hex}} {
			if err := s.Verify(k.Public(), []byte("a=c"), sig); err == nil {
				t.Fatalf("a signature over another message verified: %q", sig)
			}
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	k := TestKey(TestPlatformLabel)
	priv, _ := k.MarshalPEM()
	pub, _ := k.Public().MarshalPEM()
	f.Add(priv)
	f.Add(pub)
	f.Add([]byte(hexOf(k.Public().Uncompressed())))
	f.Add(FormatSM4Key(TestSM4Key("350100000001")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParsePrivateKey(b); err == nil {
			if _, err := p.MarshalPEM(); err != nil {
				t.Fatalf("parsed private key does not marshal: %v", err)
			}
		}
		if p, err := ParsePublicKey(b); err == nil {
			again, err := p.MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			if q, err := ParsePublicKey(again); err != nil || !q.Equal(p) {
				t.Fatal("public key round trip")
			}
		}
		if s, err := ParseSM4Key(b); err == nil && len(s) != 16 {
			t.Fatal("sm4 key length")
		}
	})
}

// FuzzParseProfile: any document either fails with an error or gives a profile that
// compiles, whose YAML reads back to the same profile.
func FuzzParseProfile(f *testing.F) {
	for _, name := range BuiltinProfiles() {
		b, _ := BuiltinProfile(name)
		f.Add(b)
	}
	f.Add([]byte(provinceX(f)))
	f.Add([]byte("profile: {operations: {cardAuth: {fields: {idNumber: x}}}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProfile(b)
		if err != nil {
			return
		}
		d, err := Compile(p)
		if err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
		y, err := d.Profile().YAML()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseProfile(y)
		if err != nil {
			t.Fatalf("shown profile does not parse: %v\n%s", err, y)
		}
		if y2, _ := p2.WithDefaults().YAML(); !bytes.Equal(y, y2) {
			t.Fatalf("not stable:\n%s\n%s", y, y2)
		}
	})
}

// FuzzJSONString: writeJSONString writes exactly what encoding/json does without HTML
// escaping.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "张三", "a\"b\\c", "\n\r\t\b\f\x00\x1f\x7f", "<>&", "\u2028\u2029", "\xff\xfe", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		writeJSONString(&got, s)
		if w := strings.TrimSuffix(want.String(), "\n"); got.String() != w {
			t.Fatalf("%q: wrote %s, encoding/json %s", s, got.String(), w)
		}
	})
}

func FuzzCheckJPEG(f *testing.F) {
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xD9})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0xFF, 0xD9})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := CheckJPEG(b)
		if err == nil && (len(b) > MaxFaceImage || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) || !bytes.HasSuffix(b, []byte{0xFF, 0xD9})) {
			t.Fatalf("accepted %x", b)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty reason")
		}
	})
}

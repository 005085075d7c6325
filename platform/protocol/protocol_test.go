package protocol

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCanonical(t *testing.T) {
	got := Canonical(map[string]string{
		"timestamp": "2023-02-01 01:01:01", "signature": "xx", "applicationNo": "", "data": `{"a":"1&b=2"}`,
		"requestId": "311bbccc35224d45b5d8ce15a3b43ad4", "channelNo": "010122310011",
	})
	want := `channelNo=010122310011&data={"a":"1&b=2"}&requestId=311bbccc35224d45b5d8ce15a3b43ad4&timestamp=2023-02-01 01:01:01`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestParseObjectStrict(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{"a":1}`, `{"a":"x","a":"y"}`, `{"a":"x"} {}`, `{"a":null}`, `{"a":{"b":"c"}}`,
		"{\"a\":\"\xff\"}", `{"a":"x"`, `{"a":true}`,
	} {
		if _, err := ParseObject([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", bad, err)
		}
	}
	m, err := ParseObject([]byte(` {"a":"x\u0026y","b":""} `))
	if err != nil || m["a"] != "x&y" || m["b"] != "" || len(m) != 2 {
		t.Fatalf("%v %v", m, err)
	}
	if _, _, err := ParseRequest([]byte(`{"requestId":"x","a=b":"c"}`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("key with '=' accepted: %v", err)
	}
}

func TestRequestCheckFields(t *testing.T) {
	ok := Request{RequestID: NewRequestID(), Timestamp: FormatTime(time.Now()), ChannelNo: "350100000001", Data: "{}", Signature: "s"}
	if err := ok.CheckFields(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Request){
		"upper requestId": func(r *Request) { r.RequestID = strings.ToUpper(r.RequestID) },
		"short requestId": func(r *Request) { r.RequestID = r.RequestID[:31] },
		"channel":         func(r *Request) { r.ChannelNo = "35010000000" },
		"application":     func(r *Request) { r.ApplicationNo = "2" },
		"timestamp":       func(r *Request) { r.Timestamp = "2023-02-01T01:01:01" },
		"no data":         func(r *Request) { r.Data = "" },
		"no signature":    func(r *Request) { r.Signature = "" },
	} {
		r := ok
		mut(&r)
		if err := r.CheckFields(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTimeIsBeijing(t *testing.T) {
	u := time.Date(2026, 1, 1, 16, 30, 0, 0, time.UTC)
	if s := FormatTime(u); s != "2026-01-02 00:30:00" {
		t.Fatal(s)
	}
	p, err := ParseTime("2026-01-02 00:30:00")
	if err != nil || !p.Equal(u) {
		t.Fatal(p, err)
	}
	for _, bad := range []string{"2026-1-2 00:30:00", "2026-02-30 00:00:00", "2026-01-02 24:00:00", "2026-01-02 00:30:00 "} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDataRoundTrip(t *testing.T) {
	var d Data
	d.Set("idNumber", "350102199003077898")
	d.Set("name", "张三<&>")
	d.Set("gone", "")
	d.SetList("records", []map[string]string{{"recordId": "T1-1", "record": `{"a":"b"}`}, {"recordId": "T1-2", "record": ""}})
	text := d.Encode()
	want := `{"idNumber":"350102199003077898","name":"张三<&>","records":[{"record":"{\"a\":\"b\"}","recordId":"T1-1"},{"record":"","recordId":"T1-2"}]}`
	if text != want {
		t.Fatalf("got  %s\nwant %s", text, want)
	}
	back, err := ParseData(text)
	if err != nil || back.Encode() != text {
		t.Fatalf("%v %s", err, back.Encode())
	}
	key, _ := NewSM4Key()
	for _, mode := range []SM4Mode{SM4CBC, SM4ECB, SM4GCM} {
		c, err := NewFieldCipher(key, mode, "")
		if err != nil {
			t.Fatal(err)
		}
		e := back.Clone()
		paths := []Path{"idNumber", "name", "records[].record", "absent", "absent[].x"}
		if err := e.EncryptFields(c, paths); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.Encode(), "350102") || strings.Contains(e.Encode(), "张三") || e.Lists["records"][1]["record"] != "" {
			t.Fatalf("%s: not encrypted as expected: %s", mode, e.Encode())
		}
		if back.Get("idNumber") != "350102199003077898" {
			t.Fatal("Clone shares storage")
		}
		if err := e.DecryptFields(c, paths); err != nil || e.Encode() != text {
			t.Fatalf("%s: %v %s", mode, err, e.Encode())
		}
		e.Lists["records"][0]["record"] = "bm90IGNpcGhlcg=="
		if err := e.DecryptFields(c, []Path{"records[].record"}); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), "records[].record") {
			t.Fatalf("%s: bad ciphertext: %v", mode, err)
		}
	}
}

func TestParseDataStrict(t *testing.T) {
	for _, bad := range []string{
		`[]`, `{"a":1}`, `{"a":"x","a":"y"}`, `{"a":{"b":"c"}}`, `{"a":["x"]}`, `{"a":[{"b":1}]}`,
		`{"a":[{"b":"c","b":"d"}]}`, `{"a":[[]]}`, `{"a":"x"}x`, `{"a":[{"b":{"c":"d"}}]}`,
	} {
		if _, err := ParseData(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", bad, err)
		}
	}
	big := `{"l":[` + strings.Repeat(`{},`, MaxListLen) + `{}]}`
	if _, err := ParseData(big); !errors.Is(err, ErrMalformed) {
		t.Error("overlong list accepted")
	}
	if d, err := ParseData(""); err != nil || len(d.Names()) != 0 {
		t.Error("empty text is not an empty object")
	}
}

func TestSchemeFormats(t *testing.T) {
	k, _ := GenerateKey()
	other, _ := GenerateKey()
	msg := []byte("a=1&b=2")
	for _, s := range []Scheme{{}, {Format: FormatRaw}, {Encoding: Hex}, {Format: FormatRaw, Encoding: Hex, SignerID: "x"}} {
		sig, err := s.Sign(k, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(k.Public(), msg, sig); err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		for name, f := range map[string]func() error{
			"other key": func() error { return s.Verify(other.Public(), msg, sig) },
			"other msg": func() error { return s.Verify(k.Public(), []byte("a=1&b=3"), sig) },
			"other id": func() error {
				return Scheme{SignerID: "y", Format: s.Format, Encoding: s.Encoding}.Verify(k.Public(), msg, sig)
			},
			"garbage":   func() error { return s.Verify(k.Public(), msg, "!!!") },
			"empty":     func() error { return s.Verify(k.Public(), msg, "") },
			"truncated": func() error { return s.Verify(k.Public(), msg, sig[:len(sig)-4]) },
			"wrong form": func() error {
				return Scheme{Format: other2(s.Format), Encoding: s.Encoding}.Verify(k.Public(), msg, sig)
			},
		} {
			if err := f(); !errors.Is(err, ErrBadSignature) {
				t.Errorf("%+v %s: %v", s, name, err)
			}
		}
	}
}

func other2(f SignatureFormat) SignatureFormat {
	if f == FormatRaw {
		return FormatDER
	}
	return FormatRaw
}

func TestSignEnvelopes(t *testing.T) {
	k, _ := GenerateKey()
	var s Scheme
	req := &Request{RequestID: NewRequestID(), Timestamp: FormatTime(time.Now()), ChannelNo: "350100000001", Data: `{"a":"b"}`}
	if err := s.SignRequest(k, req); err != nil {
		t.Fatal(err)
	}
	body, _ := Marshal(req)
	_, fields, err := ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyFields(k.Public(), fields); err != nil {
		t.Fatal(err)
	}
	// An extra field is part of what is signed.
	var m map[string]string
	_ = json.Unmarshal(body, &m)
	m["extra"] = "1"
	if err := s.VerifyFields(k.Public(), m); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("added field verified: %v", err)
	}
	delete(m, "extra")
	delete(m, "signature")
	if err := s.VerifyFields(k.Public(), m); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("unsigned verified: %v", err)
	}
}

func TestFieldCipherErrors(t *testing.T) {
	key, _ := NewSM4Key()
	if _, err := NewFieldCipher(key[:15], "", ""); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewFieldCipher(key, "ctr", ""); err == nil {
		t.Error("unknown mode accepted")
	}
	other, _ := NewSM4Key()
	for _, mode := range []SM4Mode{SM4CBC, SM4ECB, SM4GCM} {
		c, _ := NewFieldCipher(key, mode, Base64)
		w, _ := NewFieldCipher(other, mode, Base64)
		ct, _ := c.Encrypt("350102199003077898")
		for _, bad := range []string{"", "x", "AAAA", ct[:len(ct)-4]} {
			if _, err := c.Decrypt(bad); !errors.Is(err, ErrDecrypt) {
				t.Errorf("%s %q: %v", mode, bad, err)
			}
		}
		if got, err := w.Decrypt(ct); err == nil && got == "350102199003077898" {
			t.Errorf("%s: wrong key decrypted", mode)
		}
	}
	// CBC uses a fresh IV: the same value encrypts differently each time.
	c, _ := NewFieldCipher(key, SM4CBC, Base64)
	a, _ := c.Encrypt("x")
	b, _ := c.Encrypt("x")
	if a == b {
		t.Error("CBC ciphertexts repeat")
	}
}

func TestKeyFiles(t *testing.T) {
	k, _ := GenerateKey()
	pemKey, _ := k.MarshalPEM()
	pemPub, _ := k.Public().MarshalPEM()
	back, err := ParsePrivateKey(pemKey)
	if err != nil || !back.Public().Equal(k.Public()) {
		t.Fatal(err)
	}
	for _, form := range [][]byte{pemPub, []byte(strings.ToUpper(hexOf(k.Public().Uncompressed())) + "\n"), []byte(b64Of(k.Public().Uncompressed()))} {
		p, err := ParsePublicKey(form)
		if err != nil || !p.Equal(k.Public()) {
			t.Fatalf("%s: %v", form, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("hello"), pemPub[:40], []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("private %q accepted", bad)
		}
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("public %q accepted", bad)
		}
	}
	if len(k.Public().Fingerprint()) != 32 {
		t.Error("fingerprint length")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "k.pem")
	if err := WriteNewFile(p, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNewFile(p, []byte("other"), 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != string(pemKey) {
		t.Fatal("key overwritten")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := ParseSM4Key([]byte("00112233445566778899aabbccddeeff\n")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"0011", "zz112233445566778899aabbccddeeff", "00112233445566778899aabbccddeeff00"} {
		if _, err := ParseSM4Key([]byte(bad)); err == nil {
			t.Errorf("sm4 key %q accepted", bad)
		}
	}
}

func TestTestKeysAreStable(t *testing.T) {
	a := TestKey(TestPlatformLabel)
	b := TestKey(TestPlatformLabel)
	if !a.Public().Equal(b.Public()) || a.Public().Equal(TestKey(TestChannelLabel("350100000001")).Public()) {
		t.Fatal("test key derivation")
	}
	k, _ := GenerateKey()
	if IsTestKey(k.Public(), "350100000001") {
		t.Fatal("random key taken for a test key")
	}
}

func TestTables(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range MsgCodeTable() {
		if len(m.Code) != 6 || seen[m.Code] || m.ZH == "" || m.EN == "" || m.Kind.String() == "kind?" {
			t.Errorf("bad msgCode entry %+v", m)
		}
		seen[m.Code] = true
	}
	paths := map[string]bool{}
	for _, op := range Operations() {
		if paths[op.Path] || !strings.HasPrefix(op.Path, "/") {
			t.Errorf("%s: path %q", op.Op, op.Path)
		}
		paths[op.Path] = true
		if _, ok := LookupOp(op.Op); !ok {
			t.Errorf("%s not found", op.Op)
		}
	}
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func b64Of(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

package protocol

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/padding"
	"github.com/emmansun/gmsm/sm4"
)

// The worked vectors of docs/platform-protocol.md live in testdata/vector. They are
// written once with -update (signatures are randomised, so regenerating changes them)
// and from then on only checked: against this package, against the openssl command
// line (openssl_test.go) and against the document, which must quote them verbatim.

var update = flag.Bool("update", false, "rewrite testdata/vector")

const (
	vectorDir     = "testdata/vector"
	vectorChannel = "010122310011" // the channel number of the Appendix D example
	vectorIV      = "00112233445566778899aabbccddeeff"
	vectorID      = "350102199003077898"
	vectorName    = "张三"
	vectorCardNo  = "D10000017"
	vectorCardID  = "350100D156000005300000016A5F3C21"
)

func vectorPath(name string) string { return filepath.Join(vectorDir, name) }

func readVector(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(vectorPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cbcWithIV encrypts like FieldCipher in CBC mode but with a fixed IV, for the vector.
func cbcWithIV(t testing.TB, key []byte, iv, plain string) string {
	b, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ivb, _ := hex.DecodeString(iv)
	p := padding.NewPKCS7Padding(16).Pad([]byte(plain))
	out := append([]byte(nil), ivb...)
	ct := make([]byte, len(p))
	cipher.NewCBCEncrypter(b, ivb).CryptBlocks(ct, p)
	return base64.StdEncoding.EncodeToString(append(out, ct...))
}

func writeVectors(t *testing.T) {
	chKey := TestKey(TestChannelLabel(vectorChannel))
	plKey := TestKey(TestPlatformLabel)
	sm4Key := TestSM4Key(vectorChannel)
	files := map[string][]byte{}
	put := func(name string, b []byte) { files[name] = b }
	priv, _ := chKey.MarshalPEM()
	pub, _ := chKey.Public().MarshalPEM()
	ppub, _ := plKey.Public().MarshalPEM()
	put("channel.key.pem", priv)
	put("channel.pub.pem", pub)
	put("platform.pub.pem", ppub)
	put("sm4.key", FormatSM4Key(sm4Key))
	idCT := cbcWithIV(t, sm4Key, vectorIV, vectorID)
	nameCT := cbcWithIV(t, sm4Key, vectorIV, vectorName)
	put("sm4-idnumber.txt", []byte(idCT+"\n"))
	data := EncodeObject(map[string]string{
		"idNumber": idCT, "name": nameCT, "cardNo": vectorCardNo, "cardId": vectorCardID,
		"regionCode": "350100", "cardVersion": "3.00", "authMode": "psam", "terminalId": "SSC-DEMO-0001",
	})
	req := &Request{RequestID: "311bbccc35224d45b5d8ce15a3b43ad4", Timestamp: "2023-02-01 01:01:01",
		ChannelNo: vectorChannel, ApplicationNo: "02", Data: data}
	var s Scheme
	canon := req.Canonical()
	sig, err := s.Sign(chKey, []byte(canon))
	if err != nil {
		t.Fatal(err)
	}
	req.Signature = sig
	body, _ := Marshal(req)
	put("request.json", append(body, '\n'))
	put("request.canonical.txt", []byte(canon))
	der, _ := base64.StdEncoding.DecodeString(sig)
	put("request.sig.der", der)

	resp := &Response{MsgCode: "000000", Msg: "成功", RequestID: req.RequestID, Timestamp: "2023-02-01 01:01:02",
		Result: EncodeObject(map[string]string{"cardStatus": "normal", "regionCode": "350100", "expiryDate": "20330307"})}
	rcanon := resp.Canonical()
	if resp.Signature, err = s.Sign(plKey, []byte(rcanon)); err != nil {
		t.Fatal(err)
	}
	rbody, _ := Marshal(resp)
	put("response.json", append(rbody, '\n'))
	put("response.canonical.txt", []byte(rcanon))
	if err := os.MkdirAll(vectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key.pem") || name == "sm4.key" {
			mode = 0o600
		}
		if err := os.WriteFile(vectorPath(name), b, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	// The keys are the derived test keys.
	chKey, err := ParsePrivateKey([]byte(readVector(t, "channel.key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !chKey.Public().Equal(TestKey(TestChannelLabel(vectorChannel)).Public()) {
		t.Fatal("vector channel key is not the derived test key")
	}
	plPub, err := ParsePublicKey([]byte(readVector(t, "platform.pub.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !IsTestKey(plPub, "999999999999") || !IsTestKey(chKey.Public(), vectorChannel) {
		t.Fatal("IsTestKey misses a test key")
	}
	k, err := ParseSM4Key([]byte(readVector(t, "sm4.key")))
	if err != nil || !IsTestSM4Key(k, vectorChannel) {
		t.Fatalf("sm4 vector key: %v", err)
	}

	// The request parses, its canonical string is the recorded one and it verifies.
	req, fields, err := ParseRequest([]byte(readVector(t, "request.json")))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.CheckFields(); err != nil {
		t.Fatal(err)
	}
	canon := readVector(t, "request.canonical.txt")
	if got := Canonical(fields); got != canon {
		t.Fatalf("canonical string\n got %s\nwant %s", got, canon)
	}
	var s Scheme
	if err := s.Verify(chKey.Public(), []byte(canon), req.Signature); err != nil {
		t.Fatal(err)
	}
	der := readVector(t, "request.sig.der")
	if base64.StdEncoding.EncodeToString([]byte(der)) != req.Signature {
		t.Fatal("request.sig.der is not the envelope's signature")
	}
	// The SM4 field decrypts with the FieldCipher (CBC, IV in front).
	fc, err := NewFieldCipher(k, SM4CBC, Base64)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ParseObject([]byte(req.Data))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fc.Decrypt(data["idNumber"]); err != nil || got != vectorID {
		t.Fatalf("decrypt idNumber: %q %v", got, err)
	}
	if strings.TrimSpace(readVector(t, "sm4-idnumber.txt")) != data["idNumber"] {
		t.Fatal("sm4-idnumber.txt differs from the request's idNumber")
	}
	// The response verifies with the platform key.
	resp, rfields, err := ParseResponse([]byte(readVector(t, "response.json")))
	if err != nil {
		t.Fatal(err)
	}
	if err := resp.CheckFields(); err != nil {
		t.Fatal(err)
	}
	if Canonical(rfields) != readVector(t, "response.canonical.txt") {
		t.Fatal("response canonical string differs")
	}
	if err := s.Verify(plPub, []byte(Canonical(rfields)), resp.Signature); err != nil {
		t.Fatal(err)
	}
}

// TestVectorsInDocument keeps docs/platform-protocol.md quoting the vectors verbatim.
func TestVectorsInDocument(t *testing.T) {
	doc, err := os.ReadFile("../../docs/platform-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"channel.key.pem", "channel.pub.pem", "platform.pub.pem", "request.json",
		"request.canonical.txt", "response.json", "response.canonical.txt", "sm4.key"} {
		want := strings.TrimSpace(readVector(t, name))
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/platform-protocol.md does not quote testdata/vector/%s", name)
		}
	}
}

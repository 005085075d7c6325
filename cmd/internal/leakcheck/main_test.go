package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/platformsim"
	"github.com/sscagent/sscagent/platform/protocol"
)

// TestScan: each kind of secret is found and redacted in what is printed; masked data
// passes and counts as the canary.
func TestScan(t *testing.T) {
	list, canaries := secrets()
	zhangsan := platformsim.DefaultRegistry().Persons[0]
	img, _ := platformsim.Portrait(zhangsan.IDNumber)
	sm4 := protocol.TestSM4Key("350100000001")
	for name, line := range map[string]string{
		"id number":   "level=INFO msg=read idNumber=" + zhangsan.IDNumber,
		"name":        `{"kind":"auth.succeeded","data":{"name":"` + zhangsan.Name + `"}}`,
		"e-card code": "code=ESSC" + strings.Repeat("A2", 20),
		"ticket":      `{"code":"sscsim-login:abc123"}`,
		"pin":         `body={"accountPay":100,"PIN":"123456"}`,
		"pin kv":      "pin=654321",
		"image":       `{"image":"` + base64.StdEncoding.EncodeToString(img) + `"}`,
		"key":         "sm4=" + strings.ToUpper(hex.EncodeToString(sm4)),
		"pem":         "-----BEGIN PRIVATE KEY-----",
	} {
		var out bytes.Buffer
		hits := 0
		scan(strings.NewReader(line+"\n"), "run.log", list, canaries, &out, &hits)
		if hits != 1 || !strings.Contains(out.String(), "[REDACTED]") {
			t.Errorf("%s: %d hits, printed %q", name, hits, out.String())
		}
		for _, s := range list {
			if s.literal != "" && strings.Contains(out.String(), s.literal) {
				t.Errorf("%s: the secret (%s) was printed", name, s.what)
			}
		}
	}
	var out bytes.Buffer
	hits := 0
	masked := "msg=read idNumber=" + mask.IDNumber(zhangsan.IDNumber) + " name=" + mask.Name(zhangsan.Name) + " pinTries=2 code=500002\n"
	n, canary := scan(strings.NewReader(masked), "run.log", list, canaries, &out, &hits)
	if hits != 0 || n != 1 || !canary {
		t.Errorf("masked line: %d hits, canary %v, printed %q", hits, canary, out.String())
	}
}

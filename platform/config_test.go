package platform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
)

func validConfig() Config {
	c := DefaultConfig()
	c.BaseURL = "https://127.0.0.1:8443"
	c.ChannelNo = "350100000001"
	c.PrivateKey, c.PlatformPublicKey, c.SM4Key = "k.pem", "p.pem", "sm4.key"
	return c
}

func TestConfigValidate(t *testing.T) {
	var ps config.Problems
	validConfig().Validate("platform", &ps)
	if ps.Len() != 0 {
		t.Fatalf("valid config: %v", ps.Err())
	}
	c := validConfig()
	c.BaseURL = "ftp://x"
	c.ChannelNo = "12"
	c.ApplicationNo = "2"
	c.ClientCert = "c.pem"
	c.Signature.Format = "pem"
	c.Signature.Encoding = "base32"
	c.Signature.SignerID = strings.Repeat("x", 65)
	c.SM4.Mode = "ctr"
	c.SM4.Encoding = "raw"
	c.TimestampWindow = 0
	c.MaxClockOffset = config.Duration(1)
	c.Operations = map[string]OperationConfig{"teleport": {}, "micropay": {Path: "pay"}}
	c.MsgCodes = map[string]string{"000000": "retryable", "12 345": "unknown", "100003": "success"}
	ps = config.Problems{}
	c.Validate("platform", &ps)
	got := ps.Err().Error()
	for _, want := range []string{"platform.baseURL", "platform.channelNo", "platform.applicationNo", "platform.clientCert",
		"platform.signature.format", "platform.signature.encoding", "platform.signature.signerId", "platform.sm4.mode",
		"platform.sm4.encoding", "platform.timestampWindow", "platform.maxClockOffset", "platform.operations.teleport",
		"platform.operations.micropay.path", "platform.msgCodes.000000", "platform.msgCodes.12 345", "platform.msgCodes.100003"} {
		if !strings.Contains(got, want+":") {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	c = validConfig()
	c.BaseURL = "http://10.0.0.1"
	c.CAFile = "ca.pem"
	ps = config.Problems{}
	c.Validate("platform", &ps)
	if !strings.Contains(ps.Err().Error(), "need an https:// baseURL") {
		t.Fatal(ps.Err())
	}
}

func TestDeprecatedSettingsOverlayTheProfile(t *testing.T) {
	c := validConfig()
	if d := c.Deprecations(); len(d) != 0 {
		t.Fatalf("deprecations of a clean config: %v", d)
	}
	c.Profile = "appendix-d"
	c.Signature.Encoding = "hex"
	c.SM4.Mode = "ecb"
	c.Operations = map[string]OperationConfig{"micropay": {Path: "/pay/v2", ServiceCode: "PAY"}}
	c.MsgCodes = map[string]string{"123456": "retryable"}
	p, err := c.EffectiveProfile()
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "appendix-d" || p.Envelope.Payload != "object" || p.Signature.Encoding != "hex" || p.Signature.Format != "der" ||
		p.SM4.Mode != "ecb" || p.SM4.Encoding != "base64" || p.Operations["micropay"].Path != "/pay/v2" ||
		p.Operations["micropay"].ServiceCode != "PAY" || p.Operations["cardAuth"].Path != "/api/v1/card/auth" || p.MsgCodes["123456"] != "retryable" {
		t.Fatalf("effective profile %+v", p)
	}
	d := c.Deprecations()
	if len(d) != 4 {
		t.Fatalf("deprecations %v", d)
	}
	for i, key := range []string{"platform.signature", "platform.sm4", "platform.operations", "platform.msgCodes"} {
		if !strings.HasPrefix(d[i], key+" is deprecated: set profile.") {
			t.Errorf("deprecation %d: %s", i, d[i])
		}
	}
}

func TestProfileProblemsHaveTheirPath(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	doc := "profile:\n  envelope: {payload: xml}\n  operations:\n    cardAuth:\n      fields: {idNo: SFZH, name: AAC003, cardNo: AAC003}\n    teleport: {}\n  colour: red\n"
	if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	for ref, wants := range map[string][]string{
		bad: {"platform.profile: " + bad + ": profile.colour", "profile.envelope.payload", "profile.operations.cardAuth.fields.idNo",
			"profile.operations.teleport", "profile.operations.cardAuth.fields."},
		filepath.Join(dir, "missing.yaml"): {"platform.profile:", "not a built-in profile (sscsim, appendix-d) and not a readable file"},
		"appendix-e":                       {"platform.profile:", "not a built-in profile"},
	} {
		c := validConfig()
		c.Profile = ref
		var ps config.Problems
		c.Validate("platform", &ps)
		if ps.Len() == 0 {
			t.Fatalf("%s: valid", ref)
		}
		got := ps.Err().Error()
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", ref, w, got)
			}
		}
	}
}

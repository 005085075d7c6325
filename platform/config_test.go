package platform

import (
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

package credential

import "testing"

// TestPathWindows checks the Windows rules on any system: NAME.cred in
// $CREDENTIALS_DIRECTORY or under %ProgramData%.
func TestPathWindows(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	p, err := path("windows", "channel-key", get)
	if err != nil || p != `C:\ProgramData\sscagent\credentials`+"/channel-key.cred" && p != `C:\ProgramData\sscagent\credentials\channel-key.cred` {
		t.Fatalf("default: %q, %v", p, err)
	}
	env["ProgramData"] = `D:\PD`
	if d := defaultDir("windows", get); d != `D:\PD\sscagent\credentials` {
		t.Fatalf("ProgramData: %q", d)
	}
	if d := defaultDir("linux", get); d != "/etc/sscagent/credentials" {
		t.Fatalf("linux: %q", d)
	}
	if _, err := path("linux", "channel-key", get); err != ErrUnavailable {
		t.Fatalf("linux without the directory: %v", err)
	}
}

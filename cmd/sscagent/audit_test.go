package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/cmd/internal/cli"
	"github.com/sscagent/sscagent/internal/audit"
)

// TestTokenNew: the token is printed once with the entry whose hash is the token's.
func TestTokenNew(t *testing.T) {
	out, errOut, code := runCLI(t, "token", "new", "--name", "kiosk-1", "--scopes", "kiosk,operator")
	if code != cli.ExitOK {
		t.Fatalf("token new: %d %s", code, errOut)
	}
	tok := regexp.MustCompile(`(?m)^  ([A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	hash := regexp.MustCompile(`sha256: ([0-9a-f]{64})`).FindStringSubmatch(out)
	if tok == nil || hash == nil || !strings.Contains(out, "scopes: [kiosk, operator]") || !strings.Contains(out, "- name: kiosk-1") {
		t.Fatalf("output:\n%s", out)
	}
	if sum := sha256.Sum256([]byte(tok[1])); hex.EncodeToString(sum[:]) != hash[1] {
		t.Fatalf("sha256 %s is not the token's", hash[1])
	}
	for _, bad := range [][]string{{"--name", "k"}, {"--name", "k", "--scopes", "root"}, {"--name", "tokenFile", "--scopes", "gate"}, {"--scopes", "gate"}} {
		if _, _, code := runCLI(t, append([]string{"token", "new"}, bad...)...); code != cli.ExitUsage {
			t.Errorf("token new %v: exit %d", bad, code)
		}
	}
}

// TestAuditVerifyCLI: an intact log verifies (exit 0); an altered, removed, reordered or
// cut line makes verify exit 1 naming the line.
func TestAuditVerifyCLI(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([][]byte) [][]byte
		want string
	}{
		{"intact", func(l [][]byte) [][]byte { return l }, "OK: "},
		{"altered", func(l [][]byte) [][]byte { l[1] = bytes.Replace(l[1], []byte("r1"), []byte("r9"), 1); return l }, "line 2: altered"},
		{"removed", func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) }, "line 3: entries 3-3 missing"},
		{"reordered", func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l }, "line 3: entries 3-3 missing"},
		{"truncated mid-line", func(l [][]byte) [][]byte { l[3] = l[3][:30]; return l }, "line 4: incomplete"},
		{"last lines cut", func(l [][]byte) [][]byte { return l[:2] }, "truncated: the head records entry 4"},
	} {
		dir := t.TempDir()
		log := audit.Open(dir)
		for i := 0; i < 4; i++ {
			if _, err := log.Append(audit.Entry{Token: "kiosk-1", Endpoint: "GET /v1/reads/{id}", Record: fmt.Sprintf("r%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, audit.CurrentFile)
		b, _ := os.ReadFile(p)
		ls := bytes.SplitAfter(b, []byte{'\n'})[:4]
		if err := os.WriteFile(p, bytes.Join(tc.edit(ls), nil), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runCLI(t, "audit", "verify", "--state-dir", dir)
		wantCode := cli.ExitFail
		if tc.name == "intact" {
			wantCode = cli.ExitOK
		}
		if code != wantCode || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s%s", tc.name, code, wantCode, tc.want, out, errOut)
		}
	}
	if _, _, code := runCLI(t, "audit", "verify", "--file", "/nonexistent/audit.log"); code != cli.ExitFail {
		t.Fatalf("missing file: exit %d", code)
	}
}

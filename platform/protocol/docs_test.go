package protocol

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/labtest"
)

const docPath = "../../docs/platform-protocol.md"

// TestDocVectorCommands runs the OpenSSL commands of docs/platform-protocol.md on the
// files the document tells its reader to save.
func TestDocVectorCommands(t *testing.T) {
	labtest.Require(t, "openssl", "bash")
	script := labtest.DocBlock(t, docPath, "<!-- test:vector-commands -->")
	dir := t.TempDir()
	for _, n := range []string{"channel.pub.pem", "platform.pub.pem", "sm4.key"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(readVector(t, n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Count(string(out), "Verified OK") != 2 || !strings.HasSuffix(string(out), vectorID) {
		t.Fatalf("unexpected output:\n%s", out)
	}
	// The same commands with one character of the request's canonical string changed fail.
	bad := strings.Replace(script, "cardNo\":\"D10000017", "cardNo\":\"D10000018", 1)
	if bad == script {
		t.Fatal("the canonical string of the script has no cardNo")
	}
	cmd = exec.Command("bash", "-euo", "pipefail", "-c", bad)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Verification failure") {
		t.Fatalf("altered canonical string verified:\n%s", out)
	}
}

// TestDocTables keeps the document's operation and msgCode tables complete.
func TestDocTables(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range MsgCodeTable() {
		if !strings.Contains(doc, "| `"+m.Code+"` | "+m.Kind.String()+" | "+m.ZH+" |") {
			t.Errorf("msgCode %s (%s, %s) is not in the table", m.Code, m.Kind, m.ZH)
		}
	}
	for _, op := range Operations() {
		_, section, ok := strings.Cut(doc, "### `"+string(op.Op)+"` ")
		if !ok {
			t.Errorf("operation %s has no section", op.Op)
			continue
		}
		section, _, _ = strings.Cut(section, "\n### ")
		if !strings.Contains(section, "`POST "+op.Path+"`") {
			t.Errorf("%s: path %s not documented", op.Op, op.Path)
		}
		for _, f := range append(append([]Field{}, op.Data...), op.Result...) {
			row := "| `" + string(f.Path) + "` | " + f.ZH + " | "
			if !strings.Contains(section, row) {
				t.Errorf("%s: field %s (%s) not documented", op.Op, f.Path, f.ZH)
			}
			if f.Sensitive != 0 && !strings.Contains(section, row+map[bool]string{true: "yes", false: ""}[f.Required]+" | SM4 |") {
				t.Errorf("%s: field %s is not marked SM4", op.Op, f.Path)
			}
		}
	}
}

package labtest

import (
	"os"
	"strings"
	"testing"
)

// DocBlock returns the body of the fenced code block that follows the line marker
// (an HTML comment such as "<!-- test:vector-commands -->") in the document at path,
// so a test can run exactly the commands a document tells its reader to run.
func DocBlock(t testing.TB, path, marker string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), marker+"\n")
	if !ok {
		t.Fatalf("%s: no %q", path, marker)
	}
	open, rest, ok := strings.Cut(after, "\n")
	if !ok || !strings.HasPrefix(open, "```") {
		t.Fatalf("%s: %q is not followed by a fenced code block", path, marker)
	}
	body, _, ok := strings.Cut(rest, "\n```")
	if !ok {
		t.Fatalf("%s: the code block after %q is not closed", path, marker)
	}
	return body + "\n"
}

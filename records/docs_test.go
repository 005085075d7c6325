package records

import (
	"os"
	"strings"
	"testing"
)

// TestDocsDescribeEveryField keeps docs/records.md in step with the tables: every field's
// JSON name with its Chinese name and format on one table row, every range value and
// whether the range is closed or open, every prompt code.
func TestDocsDescribeEveryField(t *testing.T) {
	b, err := os.ReadFile("../docs/records.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rows := map[string]bool{}
	for _, line := range strings.Split(doc, "\n") {
		rows[line] = true
	}
	for _, k := range Kinds() {
		section := "### " + k.Table() + " " + k.Title() + " (`" + string(k) + "`)"
		i := strings.Index(doc, section)
		if i < 0 {
			t.Fatalf("docs: no section %q", section)
		}
		body := doc[i+len(section):]
		if j := strings.Index(body, "\n### "); j >= 0 {
			body = body[:j]
		}
		for n, f := range Fields(k) {
			prefix := "| " + itoa(n+1) + " | `" + f.Name + "` | " + f.Chinese + " | "
			found := false
			for _, line := range strings.Split(body, "\n") {
				if strings.HasPrefix(line, prefix) {
					found = true
					req := strings.Split(line, " | ")[4]
					if f.Required != strings.HasPrefix(req, "yes") {
						t.Errorf("docs %s.%s: required %q, table says %v", k, f.Name, req, f.Required)
					}
				}
			}
			if !found {
				t.Errorf("docs %s: no row %q", k, prefix)
			}
		}
	}
	for _, r := range Ranges() {
		for _, v := range r.Values() {
			if !strings.Contains(doc, strings.TrimSpace(v.Code+" "+v.Label)) {
				t.Errorf("docs: %s value %s %s missing", r.Rule(), v.Code, v.Label)
			}
		}
		// The closed-and-open table says which the range is.
		want := "| closed |"
		if r.Open() {
			want = "| open |"
		}
		found := false
		for line := range rows {
			if strings.HasPrefix(line, "| `"+r.Rule()+"` (`Range") {
				found = true
				if !strings.Contains(line, want) {
					t.Errorf("docs: %s is %s, the table row says otherwise: %s", r.Rule(), want, line)
				}
			}
		}
		if !found {
			t.Errorf("docs: no closed/open row for %s", r.Rule())
		}
	}
	for _, c := range []string{"600001", "600002", "600003"} {
		if !strings.Contains(doc, c) {
			t.Errorf("docs: prompt code %s missing", c)
		}
	}
}

package records

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/sscagent/sscagent/internal/gbcode"
)

// specFile is the specification text, looked for in a shared/spec directory beside the
// repository or any directory above the package (../shared/spec from the main
// checkout), or named by $SSCAGENT_SPEC. CI has only the repository; the tests that
// need the text skip there.
const specFile = "application-spec-part2.zh.txt"

// exampleLine is one line of testdata/appendix-c.tsv.
type exampleLine struct {
	line  int
	cells []string
}

func readExamples(t *testing.T) []exampleLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "appendix-c.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []exampleLine
	for i, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c := strings.Split(l, "\t")
		want := map[string]int{"row": 10, "range": 4, "use": 5}[c[0]]
		if len(c) != want {
			t.Fatalf("appendix-c.tsv:%d: %d cells, want %d for %q", i+1, len(c), want, c[0])
		}
		out = append(out, exampleLine{i + 1, c})
	}
	return out
}

// exampleRecords builds one record per table from the row lines: each 填报示例 as the
// field's value (a JSON number for the rows typed number), masked cells completed, note
// cells left out.
func exampleRecords(t *testing.T, lines []exampleLine) map[Kind]map[string]any {
	t.Helper()
	kinds := map[string]Kind{"C.3": KindCredential, "C.4": KindPayment, "C.5": KindBenefit}
	recs := map[Kind]map[string]any{}
	for _, l := range lines {
		c := l.cells
		if c[0] != "row" {
			continue
		}
		k := kinds[c[1]]
		if recs[k] == nil {
			recs[k] = map[string]any{}
		}
		name, cell, ex := c[7], c[8], c[9]
		switch cell {
		case "value":
			if c[4] == "number" {
				recs[k][name] = json.Number(ex)
			} else {
				recs[k][name] = ex
			}
		case "masked":
			recs[k][name] = unmask(t, ex, name)
		case "note":
		default:
			t.Fatalf("appendix-c.tsv:%d: cell kind %q", l.line, cell)
		}
	}
	return recs
}

// unmask fills the asterisks of a masked ID number or credit code with the first digits
// (counting up from all zeros) that make the code's check character come out as the
// specification prints it: the masked example is then a masking of a valid code.
func unmask(t *testing.T, masked, field string) string {
	t.Helper()
	valid := func(s string) bool { return gbcode.IDNumber(s) == nil }
	if field == "creditCode" {
		valid = func(s string) bool { return gbcode.CreditCode(s) == nil }
	}
	n := strings.Count(masked, "*")
	for i := 0; i < 1_000_000; i++ {
		fill := strconv.Itoa(i)
		if len(fill) > n {
			break
		}
		fill = strings.Repeat("0", n-len(fill)) + fill
		var b strings.Builder
		j := 0
		for _, r := range masked {
			if r == '*' {
				b.WriteByte(fill[j])
				j++
			} else {
				b.WriteRune(r)
			}
		}
		if valid(b.String()) {
			return b.String()
		}
	}
	t.Fatalf("no valid completion of %s", masked)
	return ""
}

// TestAppendixCExamples: the 填报示例 of tables C.3, C.4 and C.5, each table's examples
// together as one record, validate, as do every value of tables C.6 to C.10 and every
// value of table C.7 the specification gives elsewhere (tables A.1, A.2, B.1, D.1). The
// table rows also agree with the package's: the same fields in the same order, with the
// same Chinese names and 是否必填.
func TestAppendixCExamples(t *testing.T) {
	lines := readExamples(t)
	recs := exampleRecords(t, lines)

	// The tables' rows are the package's fields.
	byTable := map[string][]exampleLine{}
	for _, l := range lines {
		if l.cells[0] == "row" {
			byTable[l.cells[1]] = append(byTable[l.cells[1]], l)
		}
	}
	for _, k := range Kinds() {
		rows, fs := byTable[k.Table()], Fields(k)
		if len(rows) != len(fs) {
			t.Fatalf("%s: %d example rows, %d fields", k.Table(), len(rows), len(fs))
		}
		for i, f := range fs {
			c := rows[i].cells
			if c[2] != strconv.Itoa(i+1) || c[3] != f.Chinese || c[7] != f.Name || (c[6] == "是") != f.Required {
				t.Errorf("%s row %s %s (%s, 是否必填 %s): the package has %d %s %s required=%v",
					k.Table(), c[2], c[3], c[7], c[6], i+1, f.Chinese, f.Name, f.Required)
			}
		}
	}

	// Each table's examples as one record.
	r := record(t)
	want := map[Kind]map[string]string{ // canonical values that differ from the cell
		KindCredential: {"scene": "就业创业/个人凭社会保障卡就业登记"}, // C.7 is open: kept as sent
		KindPayment: {"paymentScene": "人力资源和社会保障应用/工伤医疗费用结算", // alias of C.7 02
			"settlementMethod": "电子社会保障卡展码结算"}, // alias of C.9 06
	}
	for _, k := range Kinds() {
		raw, err := json.Marshal(recs[k])
		if err != nil {
			t.Fatal(err)
		}
		rec, err := Parse(k, raw)
		if err != nil {
			t.Errorf("%s example row: %v\n%s", k.Table(), err, raw)
			continue
		}
		for name, w := range want[k] {
			if got := valueOf(rec, name); got != w {
				t.Errorf("%s %s: %q, want %q", k.Table(), name, got, w)
			}
		}
		if _, err := Encode(rec); err != nil {
			t.Errorf("%s: %v", k.Table(), err)
		}
		// Every other field the rows give is in the record as the specification wrote it.
		for name, v := range recs[k] {
			if _, listed := want[k][name]; !listed && valueOf(rec, name) != fmtValue(v) {
				t.Errorf("%s %s: %q became %q", k.Table(), name, fmtValue(v), valueOf(rec, name))
			}
		}
	}
	// 就业创业 (table C.3's 应用场景) is the one example value outside its list.
	if n := r.count("scene=就业创业"); n > 1 {
		t.Errorf("就业创业 warned %d times", n)
	}

	// The value tables: every value by its number and by its label.
	ranges := map[string]Range{"C.6": RangeCredentialType, "C.7": RangeScene, "C.8": RangeInstitutionType,
		"C.9": RangeSettlementMethod, "C.10": RangeSettlementType}
	count := map[Range]int{}
	for _, l := range lines {
		c := l.cells
		switch c[0] {
		case "range":
			rg := ranges[c[1]]
			count[rg]++
			for _, in := range []string{c[2], c[3]} {
				if v, ok := rg.Lookup(in); !ok || v.Code != c[2] || v.Label != c[3] {
					t.Errorf("%s: Lookup(%q) = %v, %v", c[1], in, v, ok)
				}
			}
		case "use":
			switch c[2] {
			case "scene":
				mustParse(t, KindCredential, with(t, KindCredential, map[string]any{"scene": c[3]}))
				mustParse(t, KindPayment, with(t, KindPayment, map[string]any{"paymentScene": c[3] + "/示例"}))
			case "code":
				if v, ok := RangeScene.Lookup(c[3]); !ok || v.Code != c[3] {
					t.Errorf("%s: applicationNo %s is not a C.7 number", c[1], c[3])
				}
			default:
				t.Errorf("appendix-c.tsv:%d: usage %q", l.line, c[2])
			}
			if !strings.Contains(c[4], c[3]) {
				t.Errorf("appendix-c.tsv:%d: the anchor does not contain %q", l.line, c[3])
			}
		}
	}
	for name, rg := range ranges {
		if count[rg] != len(rg.Values()) {
			t.Errorf("%s: %d values in the specification, %d in the package", name, count[rg], len(rg.Values()))
		}
	}
}

// TestAppendixCTestdataMatchesSpec: every line of testdata/appendix-c.tsv is in the
// specification text: each row's cells in order, its 填报示例 the row's last cell; each
// range value with its number inside its table; each anchor. White space is ignored,
// since the text breaks cells across lines.
func TestAppendixCTestdataMatchesSpec(t *testing.T) {
	path := findSpec()
	if path == "" {
		t.Skip("specification text not found (shared/spec/" + specFile + " or $SSCAGENT_SPEC)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	spec := squeeze(string(b))
	section := func(start, end string) string {
		i := strings.Index(spec, squeeze(start))
		if i < 0 {
			t.Fatalf("spec: no %q", start)
		}
		s := spec[i:]
		j := strings.Index(s, squeeze(end))
		if j < 0 {
			t.Fatalf("spec: no %q after %q", end, start)
		}
		return s[:j]
	}
	header := squeeze("序号 字段名称 数据类型 数据格式 是否必填 说明 填报示例")
	tables := map[string]string{}
	for _, tb := range []struct{ n, start, end string }{
		{"C.3", "表C.3 办事凭证数据表", "C.3.2 支付结算数据"},
		{"C.4", "表C.4 支付结算数据表", "C.3.3 待遇发放数据"},
		{"C.5", "表C.5 待遇发放数据表", "C.4 取值范围"},
	} {
		s := section(tb.start, tb.end)
		// Page breaks repeat the caption and the header row.
		s = strings.ReplaceAll(s, squeeze(tb.start+"（续）")+header, "")
		s = strings.ReplaceAll(s, squeeze(tb.start)+header, "")
		tables[tb.n] = s
	}
	for _, tb := range []struct{ n, start, end string }{
		{"C.6", "表C.6 办事凭证类型取值范围表", "C.4.2"},
		{"C.7", "表C.7 应用场景类型取值范围表", "C.4.3"},
		{"C.8", "表C.8 应用机构类别取值范围表", "C.4.4"},
		{"C.9", "表C.9 支付结算方式取值范围表", "C.4.5"},
		{"C.10", "表C.10 支付结算类型取值范围表", "附 录 D"},
	} {
		tables[tb.n] = section(tb.start, tb.end)
	}

	lines := readExamples(t)
	cursor := map[string]int{}
	for i, l := range lines {
		c := l.cells
		switch c[0] {
		case "row":
			s := tables[c[1]]
			prefix := squeeze(strings.Join(c[2:7], ""))
			at := strings.Index(s[cursor[c[1]]:], prefix)
			if at < 0 {
				t.Errorf("appendix-c.tsv:%d: row %s %s (%s) not in table %s", l.line, c[2], c[3], strings.Join(c[4:7], " "), c[1])
				continue
			}
			// The row runs to the next row of the table, or to the table's end.
			start := cursor[c[1]] + at
			end, found := len(s), true
			if i+1 < len(lines) && lines[i+1].cells[0] == "row" && lines[i+1].cells[1] == c[1] {
				next := squeeze(strings.Join(lines[i+1].cells[2:7], ""))
				j := strings.Index(s[start+len(prefix):], next)
				if found = j >= 0; found {
					end = start + len(prefix) + j
				}
			}
			if row := s[start:end]; found && !strings.HasSuffix(row, squeeze(c[9])) {
				t.Errorf("appendix-c.tsv:%d: %s row %s ends %q, not with the 填报示例 %q", l.line, c[1], c[2], lastRunes(row, 40), c[9])
			}
			cursor[c[1]] = start + len(prefix)
		case "range":
			if !strings.Contains(tables[c[1]], squeeze(c[2]+c[3])) {
				t.Errorf("appendix-c.tsv:%d: %s %s not in table %s", l.line, c[2], c[3], c[1])
			}
		case "use":
			if !strings.Contains(spec, squeeze(c[4])) {
				t.Errorf("appendix-c.tsv:%d: %s: %q not in the specification", l.line, c[1], c[4])
			}
		}
	}
}

func findSpec() string {
	if p := os.Getenv("SSCAGENT_SPEC"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "spec", specFile)
		if _, err := os.Stat(p); err == nil {
			return p
		} else if !errors.Is(err, os.ErrNotExist) {
			return ""
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

func fmtValue(v any) string {
	if n, ok := v.(json.Number); ok {
		return string(n)
	}
	return v.(string)
}

// squeeze removes all white space.
func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func lastRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[len(r)-n:]
	}
	return string(r)
}

package qrscan

import (
	"slices"
	"strings"
	"testing"

	"github.com/sscagent/sscagent/internal/config"
)

func TestDefaultClassification(t *testing.T) {
	c, err := NewClassifier(Classification{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		code string
		want Class
	}{
		{"https://example.org/x", ClassText},
		{"HTTPS://EXAMPLE.ORG", ClassText},
		{"hello world", ClassText},
		{"社保卡", ClassText},
		{"6901234567892", ClassUnknown},      // EAN-13
		{"134567890123456789", ClassUnknown}, // an 18-digit third-party payment code
		{"SHORT", ClassUnknown},
		{"A1B2C3D4E5F6G7H8", ClassESSC}, // 16 printable characters
		{"Zm9vYmFyYmF6cXV4Cg==.sig-part_01", ClassESSC},
		{"123456789012345678901", ClassESSC}, // 21 digits: not a known retail or payment code
	}
	for _, tc := range cases {
		if got := c.Classify([]byte(tc.code)); got != tc.want {
			t.Errorf("Classify(%q) = %s, want %s", tc.code, got, tc.want)
		}
	}
}

func TestCustomRulesFirstMatchWins(t *testing.T) {
	c, err := NewClassifier(Classification{
		Rules: []Rule{
			{Class: ClassNHSA, Prefix: "NHSA", MinLength: 10},
			{Class: ClassESSC, Pattern: `^ESSC[0-9A-F]+$`, MaxLength: 20},
			{Class: ClassText, MinLength: 1},
		},
		Default: ClassUnknown,
	})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]Class{
		"NHSA123456":                     ClassNHSA,
		"NHSA1":                          ClassText, // too short for the nhsa rule
		"ESSC0123ABCD":                   ClassESSC,
		"ESSC" + strings.Repeat("A", 20): ClassText, // too long for the essc rule
		"anything":                       ClassText,
	} {
		if got := c.Classify([]byte(code)); got != want {
			t.Errorf("Classify(%q) = %s, want %s", code, got, want)
		}
	}
	d, err := NewClassifier(Classification{Rules: []Rule{{Class: ClassNHSA, Prefix: "X"}}, Default: ClassText})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Classify([]byte("abc")); got != ClassText {
		t.Fatalf("default class: got %s, want text", got)
	}
}

func TestClassificationValidate(t *testing.T) {
	var ps config.Problems
	Classification{
		Default: "bogus",
		Rules: []Rule{
			{Class: "essc"},
			{Class: "x", Pattern: "("},
			{Class: ClassText, MinLength: 5, MaxLength: 2},
		},
	}.Validate("classify", &ps)
	var paths []string
	for _, p := range ps.List() {
		paths = append(paths, p.Path)
	}
	want := []string{"classify.default", "classify.rules[0]", "classify.rules[1].class",
		"classify.rules[1].pattern", "classify.rules[2]"}
	if !slices.Equal(paths, want) {
		t.Fatalf("problems at %q, want %q", paths, want)
	}
}

// FuzzClassify checks that any input gets exactly one valid class, the same each time,
// under the default rules and a rule set with every kind of condition.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "https://x", "6901234567892", "A1B2C3D4E5F6G7H8", "\x00\xff", "社保 卡",
		strings.Repeat("9", 3000)} {
		f.Add([]byte(s))
	}
	def, err := NewClassifier(Classification{})
	if err != nil {
		f.Fatal(err)
	}
	custom, err := NewClassifier(Classification{Rules: []Rule{
		{Class: ClassNHSA, Prefix: "N", Pattern: `[0-9]{4}$`, MinLength: 5, MaxLength: 64},
		{Class: ClassESSC, Pattern: `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==)?$`},
	}, Default: ClassText})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		for _, c := range []*Classifier{def, custom} {
			got := c.Classify(code)
			if !slices.Contains(Classes, got) {
				t.Fatalf("class %q is not valid", got)
			}
			if again := c.Classify(code); again != got {
				t.Fatalf("classification not stable: %s then %s", got, again)
			}
		}
	})
}

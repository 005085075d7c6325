package qrscan

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/config"
)

// Rule assigns a class to codes of a given shape. Every condition that is set must hold;
// a rule sets at least one. Rules see only the shape of a code, never its meaning.
type Rule struct {
	// Class is essc, nhsa, text or unknown.
	Class Class `yaml:"class"`
	// Prefix, when set, must begin the code (after prefix/suffix stripping).
	Prefix string `yaml:"prefix"`
	// Pattern, when set, is an RE2 regular expression that must match somewhere in the
	// code; anchor it with ^ and $ to match the whole code. RE2 runs in linear time, so a
	// hostile code cannot make classification slow.
	Pattern string `yaml:"pattern"`
	// MinLength, when positive, is the shortest code in bytes the rule accepts.
	MinLength int `yaml:"minLength"`
	// MaxLength, when positive, is the longest code in bytes the rule accepts.
	MaxLength int `yaml:"maxLength"`
}

// Classification is the ordered rule list of a scanner; the first matching rule wins.
type Classification struct {
	// Rules are tried in order. Empty means DefaultRules().
	Rules []Rule `yaml:"rules"`
	// Default is the class of a code no rule matches. Default unknown. (A scanner that
	// only ever reads one kind of code, such as the medical counter's, lists one
	// catch-all rule instead: {class: nhsa, minLength: 1}.)
	Default Class `yaml:"default"`
}

// DefaultRules is the built-in classification. No public document gives the e-SSC or
// NHSA e-voucher payload format (reference/domain.md §5), so the defaults only separate
// what is certainly not an e-card code:
//
//  1. text: a URL, or anything with white space or non-ASCII characters;
//  2. unknown: 1 to 20 digits (EAN/UPC product barcodes; WeChat Pay and Alipay payment
//     codes are 18 digits);
//  3. essc: 16 or more printable ASCII characters without spaces, the shape of an opaque
//     token; the platform decides whether it is really an e-SSC code.
//
// Nothing is classified nhsa by default; sites with NHSA e-vouchers add a rule.
func DefaultRules() []Rule {
	return []Rule{
		{Class: ClassText, Pattern: `^(?i:https?|weixin|alipays?)://|\s|[^\x00-\x7F]`},
		{Class: ClassUnknown, Pattern: `^[0-9]{1,20}$`},
		{Class: ClassESSC, Pattern: `^[\x21-\x7E]+$`, MinLength: 16},
	}
}

// Validate implements config.Validator. Compiling the patterns is part of validation.
func (c Classification) Validate(path string, ps *config.Problems) {
	if c.Default != "" && !slices.Contains(Classes, c.Default) {
		ps.Addf(config.Join(path, "default"), "must be essc, nhsa, text or unknown, got %q", c.Default)
	}
	for i, r := range c.Rules {
		p := config.Index(config.Join(path, "rules"), i)
		if !slices.Contains(Classes, r.Class) {
			ps.Addf(config.Join(p, "class"), "must be essc, nhsa, text or unknown, got %q", r.Class)
		}
		if r.Prefix == "" && r.Pattern == "" && r.MinLength <= 0 && r.MaxLength <= 0 {
			ps.Addf(p, "sets no condition: give prefix, pattern, minLength or maxLength")
		}
		if r.Pattern != "" {
			if _, err := regexp.Compile(r.Pattern); err != nil {
				ps.Addf(config.Join(p, "pattern"), "%v", err)
			}
		}
		if r.MinLength < 0 || r.MaxLength < 0 || (r.MaxLength > 0 && r.MinLength > r.MaxLength) {
			ps.Addf(p, "needs 0 <= minLength <= maxLength, got %d and %d", r.MinLength, r.MaxLength)
		}
		if !utf8.ValidString(r.Prefix) {
			ps.Addf(config.Join(p, "prefix"), "is not valid UTF-8")
		}
	}
}

// Classifier applies a Classification. It is safe for concurrent use.
type Classifier struct {
	rules []compiledRule
	def   Class
}

type compiledRule struct {
	Rule
	prefix []byte
	re     *regexp.Regexp
}

// NewClassifier compiles c.
func NewClassifier(c Classification) (*Classifier, error) {
	var ps config.Problems
	c.Validate("classify", &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	rules := c.Rules
	if len(rules) == 0 {
		rules = DefaultRules()
	}
	cl := &Classifier{def: c.Default}
	if cl.def == "" {
		cl.def = ClassUnknown
	}
	for _, r := range rules {
		cr := compiledRule{Rule: r, prefix: []byte(r.Prefix)}
		if r.Pattern != "" {
			re, err := regexp.Compile(r.Pattern)
			if err != nil {
				return nil, fmt.Errorf("qrscan: rule pattern: %w", err)
			}
			cr.re = re
		}
		cl.rules = append(cl.rules, cr)
	}
	return cl, nil
}

// Classify returns the class of the first rule code satisfies, else the default class.
func (c *Classifier) Classify(code []byte) Class {
	for _, r := range c.rules {
		if r.MinLength > 0 && len(code) < r.MinLength {
			continue
		}
		if r.MaxLength > 0 && len(code) > r.MaxLength {
			continue
		}
		if len(r.prefix) > 0 && !bytes.HasPrefix(code, r.prefix) {
			continue
		}
		if r.re != nil && !r.re.Match(code) {
			continue
		}
		return r.Class
	}
	return c.def
}

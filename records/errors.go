package records

import (
	"errors"
	"strconv"
	"strings"

	"github.com/sscagent/sscagent/internal/prompt"
)

// ErrInvalid is matched by every *ValidationError: errors.Is(err, records.ErrInvalid)
// tells a refused record from other failures.
var ErrInvalid = errors.New("records: invalid record")

// FieldRecord is the FieldError.Field of problems that concern the record as a whole
// rather than one field: not JSON, not an object, trailing data, too large, an unknown
// kind.
const FieldRecord = "$"

// Rules named by FieldError.Rule besides the C.2 formats ("n12", "..120", "n..12,2",
// "datetime", ...) and the value ranges ("C.6" ... "C.10").
const (
	RuleJSON      = "json"      // not a single well-formed JSON object in UTF-8
	RuleSize      = "size"      // larger than MaxSize bytes
	RuleKind      = "kind"      // not one of credential, payment, benefit
	RuleUnknown   = "unknown"   // a member that is not a field of the record
	RuleDuplicate = "duplicate" // a member that appears more than once
	RuleType      = "type"      // a JSON value of the wrong type (object, array, bool, misplaced number)
	RuleRequired  = "required"  // a required field is absent, null or blank
	RuleText      = "text"      // a control, bidi-override or replacement character in text
	RuleLimit     = "limit"     // more problems than a ValidationError lists
)

// FieldError is one problem with a record.
type FieldError struct {
	// Field is the field's JSON name (e.g. "socialSecurityNo"), the member name as sent
	// for unknown or duplicate members, or FieldRecord for the record as a whole.
	Field string `json:"field"`
	// Rule is what failed: a C.2 format such as "n12", "an18", "..120", "n..12,2" or
	// "datetime"; "GB 11643", "GB 32100" or "GB/T 2260"; a closed value range "C.6", "C.8",
	// "C.9" or "C.10" ("C.7" for a scene with nothing before its "/");
	// or one of the Rule constants.
	Rule string `json:"rule"`
	// Reason says what is wrong in words, never echoing personal data.
	Reason string `json:"reason"`
}

func (f FieldError) String() string { return f.Field + ": " + f.Rule + ": " + f.Reason }

// ValidationError is a record refused at the door. It lists every problem found, in
// document order for decoding problems and then in the order of the standard's table,
// up to maxProblems (a last FieldError with RuleLimit counts the rest).
type ValidationError struct {
	Kind   Kind         `json:"kind"`
	Fields []FieldError `json:"fields"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("records: invalid ")
	if e.Kind.Valid() {
		b.WriteString(string(e.Kind))
	} else {
		b.WriteString("record")
	}
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// PromptCode is the spec 8.4 message for this refusal: CodeUnknownKind, CodeMalformed
// when the input is not a usable JSON object, otherwise CodeInvalid.
func (e *ValidationError) PromptCode() prompt.Code {
	for _, f := range e.Fields {
		if f.Field != FieldRecord {
			continue
		}
		switch f.Rule {
		case RuleKind:
			return CodeUnknownKind
		case RuleJSON, RuleSize:
			return CodeMalformed
		}
	}
	return CodeInvalid
}

// maxProblems bounds the problems one ValidationError lists, so that a hostile record of
// thousands of unknown members cannot make an answer larger than the record itself.
const maxProblems = 100

// problems collects FieldErrors up to maxProblems, and the values outside open lists
// that a valid record reports to the warning hook.
type problems struct {
	list     []FieldError
	dropped  int
	unlisted []unlistedValue
}

func (p *problems) add(field, rule, reason string) {
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, FieldError{Field: field, Rule: rule, Reason: reason})
}

func (p *problems) full() bool { return len(p.list) >= maxProblems }

// err returns the problems as a *ValidationError, or nil when there are none; then it
// reports the unlisted values of the (valid) record to the warning hook.
func (p *problems) err(k Kind) *ValidationError {
	if len(p.list) == 0 {
		warn(p.unlisted)
		return nil
	}
	list := p.list
	if p.dropped > 0 {
		list = append(list, FieldError{Field: FieldRecord, Rule: RuleLimit,
			Reason: strconv.Itoa(p.dropped) + " more problems not listed"})
	}
	return &ValidationError{Kind: k, Fields: list}
}

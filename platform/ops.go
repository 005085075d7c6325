package platform

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sscagent/sscagent/platform/protocol"
)

// The typed operations (ops_identity.go, ops_pay.go, ops_backflow.go) build the data
// of one operation from a request struct, check it before anything is sent (a
// malformed request is ClassRejected wrapping ErrInvalidRequest, and nothing is sent),
// call Call, and read the result into a struct, checking it too: a result that does not
// make sense (an unknown trade state, an order number that is not ours, a missing
// acknowledgement) is ClassUnverified. Personal data in results is a mask.Value: printed
// or logged it is masked; Clear() returns the value for the code that needs it.

// unverified turns a verified envelope whose result makes no sense into an error.
func (c *Client) unverified(rep *Reply, err error) error {
	e := &Error{Op: string(rep.Op), Class: ClassUnverified, RequestID: rep.RequestID, Err: fmt.Errorf("%w: result: %v", ErrUnverified, err)}
	c.reclassify(e) // Call counted a success; the result says otherwise
	return e
}

var (
	reIDNumber     = regexp.MustCompile(`^[0-9]{17}[0-9X]$`)
	reCardNo       = regexp.MustCompile(`^[0-9A-Z]{9}$`)
	reCardID       = regexp.MustCompile(`^[0-9A-Fa-f]{6}[0-9A-Za-z]{26}$`)
	reRegion       = regexp.MustCompile(`^[0-9]{6}$`)
	reAuthMode     = regexp.MustCompile(`^(psam|hsm|none)$`)
	reBusinessType = regexp.MustCompile(`^0[1-4]$`)
	reOrderNo      = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	reRecordID     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	reTwoDigits    = regexp.MustCompile(`^[0-9]{2}$`)
	reAmount       = regexp.MustCompile(`^(0|[1-9][0-9]{0,7})\.[0-9]{2}$`)
)

// inputCheck collects every problem of a request before it is sent.
type inputCheck struct{ problems []string }

func (in *inputCheck) add(field, reason string) {
	in.problems = append(in.problems, field+": "+reason)
}

func (in *inputCheck) pattern(field, v string, re *regexp.Regexp, want string) {
	if !re.MatchString(v) {
		if v == "" {
			in.add(field, "required")
			return
		}
		in.add(field, "must be "+want)
	}
}

func (in *inputCheck) optional(field, v string, re *regexp.Regexp, want string) {
	if v != "" {
		in.pattern(field, v, re, want)
	}
}

// text checks a free text: at least lo (0: optional) and at most hi characters, no
// control characters.
func (in *inputCheck) text(field, v string, lo, hi int) {
	n := utf8.RuneCountInString(v)
	switch {
	case n == 0 && lo > 0:
		in.add(field, "required")
	case n > hi:
		in.add(field, fmt.Sprintf("must be at most %d characters", hi))
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		in.add(field, "must be text without control characters")
	}
}

func (in *inputCheck) amount(field, v string, required bool) {
	switch {
	case v == "" && !required:
	case !reAmount.MatchString(v):
		in.pattern(field, v, reAmount, `yuan with exactly two decimals, e.g. "12.50"`)
	case v == "0.00":
		in.add(field, "must be more than 0.00")
	}
}

func (in *inputCheck) err(op protocol.Op) error {
	if len(in.problems) == 0 {
		return nil
	}
	return &Error{Op: string(op), Class: ClassRejected,
		Err: fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(in.problems, "; "))}
}

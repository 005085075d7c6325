package records

import (
	"log/slog"
	"sync"

	"github.com/sscagent/sscagent/internal/mask"
)

// A valid record may carry a value that an open list of the standard does not list (see
// Range): 应用场景 就业创业, 用卡类型 社保卡, 坐标系 WGS84. The record is accepted, and the
// value is reported once to the warning hook so that an operator can tell a regional
// extension from a typo. Only valid records are reported: a refused record says what is
// wrong with it in its ValidationError.

// maxWarned bounds the set of values already reported. When it is full it is emptied,
// so a value may be reported again after maxWarned other distinct values.
const maxWarned = 1024

// maxWarnValue bounds the value passed to the hook, in characters.
const maxWarnValue = 64

var warnings struct {
	sync.Mutex
	fn   func(field, value string)
	seen map[string]bool
}

// SetWarn sets the function told about values outside the standard's open lists: it is
// called once per field and distinct value (white space and full-width forms ignored),
// with the field's JSON name ("scene", "cardType") and the value (for 应用场景 and 支付场景
// the part before "/"; the free-text extension is never reported). The value is passed
// through mask.Text and cut to 64 characters, and none of the fields concerned holds
// personal data. fn is called synchronously from Parse, Encode, Validate or Normalize,
// possibly from several goroutines at once, and must not call back into this package's
// SetWarn.
//
// nil restores the default, a warning on slog.Default():
//
//	records: value not listed by the standard, accepted field=scene value=就业创业
//
// SetWarn also forgets the values already reported, so the new function hears of each.
func SetWarn(fn func(field, value string)) {
	warnings.Lock()
	warnings.fn = fn
	warnings.seen = nil
	warnings.Unlock()
}

func defaultWarn(field, value string) {
	slog.Default().Warn("records: value not listed by the standard, accepted", "field", field, "value", value)
}

// unlistedValue is one value of an open list that the list does not hold.
type unlistedValue struct{ field, value string }

// warn reports the unlisted values of a valid record, each the first time it is seen.
func warn(list []unlistedValue) {
	if len(list) == 0 {
		return
	}
	var tell []unlistedValue
	warnings.Lock()
	fn := warnings.fn
	for _, u := range list {
		key := u.field + "\x00" + foldKey(u.value)
		if warnings.seen[key] {
			continue
		}
		if warnings.seen == nil || len(warnings.seen) >= maxWarned {
			warnings.seen = make(map[string]bool)
		}
		warnings.seen[key] = true
		tell = append(tell, u)
	}
	warnings.Unlock()
	if fn == nil {
		fn = defaultWarn
	}
	for _, u := range tell {
		fn(u.field, truncate(mask.Text(u.value), maxWarnValue))
	}
}

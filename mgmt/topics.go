package mgmt

import (
	"errors"
	"strings"
)

// Topic kinds under {prefix}/{terminalId}/.
const (
	KindState     = "state"
	KindTelemetry = "telemetry"
	KindEvents    = "events"
	KindDesired   = "config/desired"
	KindReported  = "config/reported"
	KindCommand   = "cmd"        // cmd/{id}
	KindResult    = "cmd/result" // cmd/{id}/result
)

// Topics builds the topic names of one terminal.
type Topics struct {
	Prefix   string
	Terminal string
}

func (t Topics) base() string { return t.Prefix + "/" + t.Terminal + "/" }

// State is the retained presence topic: birth (online) and will/offline.
func (t Topics) State() string { return t.base() + KindState }

// Telemetry is the retained periodic health and counters topic.
func (t Topics) Telemetry() string { return t.base() + KindTelemetry }

// Events is the event stream topic.
func (t Topics) Events() string { return t.base() + KindEvents }

// Desired is the retained topic managers publish configuration documents to.
func (t Topics) Desired() string { return t.base() + KindDesired }

// Reported is the retained topic of the configuration outcome.
func (t Topics) Reported() string { return t.base() + KindReported }

// Command is the topic of command id.
func (t Topics) Command(id string) string { return t.base() + "cmd/" + id }

// CommandFilter matches every command of the terminal (and not the results).
func (t Topics) CommandFilter() string { return t.base() + "cmd/+" }

// Result is the topic of command id's result.
func (t Topics) Result(id string) string { return t.base() + "cmd/" + id + "/result" }

// Fleet returns the filter matching topic kind (one of the Kind constants without an
// id) of every terminal under prefix: "{prefix}/+/state".
func Fleet(prefix, kind string) string {
	switch kind {
	case KindCommand:
		return prefix + "/+/cmd/+"
	case KindResult:
		return prefix + "/+/cmd/+/result"
	}
	return prefix + "/+/" + kind
}

// Parsed is a topic split into its parts.
type Parsed struct {
	Terminal string
	Kind     string // one of the Kind constants
	ID       string // command id for KindCommand and KindResult
}

// ParseTopic splits a topic under prefix. ok is false for a topic outside the tree.
func ParseTopic(prefix, topic string) (p Parsed, ok bool) {
	rest, found := strings.CutPrefix(topic, prefix+"/")
	if !found {
		return p, false
	}
	term, kind, found := strings.Cut(rest, "/")
	if !found || CheckTerminalID(term) != nil {
		return p, false
	}
	p.Terminal = term
	switch kind {
	case KindState, KindTelemetry, KindEvents, KindDesired, KindReported:
		p.Kind = kind
		return p, true
	}
	id, tail, _ := strings.Cut(strings.TrimPrefix(kind, "cmd/"), "/")
	if !strings.HasPrefix(kind, "cmd/") || CheckCommandID(id) != nil {
		return Parsed{}, false
	}
	p.ID = id
	switch tail {
	case "":
		if strings.HasSuffix(kind, "/") {
			return Parsed{}, false
		}
		p.Kind = KindCommand
	case "result":
		p.Kind = KindResult
	default:
		return Parsed{}, false
	}
	return p, true
}

// CheckPrefix reports what is wrong with a topic prefix: it must be non-empty levels
// separated by '/', without wildcards, NUL or a leading '$' (reserved for the broker).
func CheckPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("required")
	case len(p) > 200:
		return errors.New("must be at most 200 bytes")
	case strings.HasPrefix(p, "$"):
		return errors.New("must not start with '$' (broker topics)")
	case strings.ContainsAny(p, "+#\x00"):
		return errors.New("must not contain '+', '#' or NUL")
	}
	for _, l := range strings.Split(p, "/") {
		if l == "" {
			return errors.New("must not have empty levels (leading, trailing or double '/')")
		}
	}
	return nil
}

// CheckTerminalID reports whether id can be a topic level: the terminal id rules
// (1-32 letters, digits and '-').
func CheckTerminalID(id string) error {
	if id == "" || len(id) > 32 {
		return errors.New("terminal id must be 1-32 characters")
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) || id[i] == '.' || id[i] == '_' {
			return errors.New("terminal id must be letters, digits and '-'")
		}
	}
	return nil
}

// CheckCommandID reports whether id is a valid command id: 1-64 letters, digits, '-',
// '_' and '.'.
func CheckCommandID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("command id must be 1-64 characters")
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return errors.New("command id must be letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

func isIDByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
}

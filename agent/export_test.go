package agent

// For the external tests (upgrade fixtures).
var (
	MarkStateDir   = markStateDir
	ParseStateMark = func(b []byte) (int, error) { m, err := parseStateMark(b); return m.Schema, err }
)

package mgmt

// ThenRun returns a command value whose result is v and which runs action once the
// result has been delivered to the broker (or could not be, after a few seconds): a
// command that restarts the process answers first.
func ThenRun(v any, action func()) any { return afterResult{value: v, action: action} }

package labtest

import (
	"os/exec"
	"testing"
)

// Chromium returns the path of a headless-capable Chromium (Debian's chromium), or
// skips t (fails it under CI: .ci/run installs it) when none is installed.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Unavailable(t, "chromium is not installed (.ci/run installs it)")
	return ""
}

package backflow

import (
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
)

// SetDelayForTest replaces the backoff delay after a failed call.
func (u *Uploader) SetDelayForTest(f func() time.Duration) {
	u.delay = func(*backoff.Backoff) time.Duration { return f() }
}

// UpPendingForTest reports whether a PlatformUp signal waits to be taken by Run.
func (u *Uploader) UpPendingForTest() bool { return len(u.up) > 0 }

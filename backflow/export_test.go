package backflow

import (
	"time"

	"github.com/sscagent/sscagent/backoff"
)

// SetDelayForTest replaces the backoff delay after a failed call.
func (u *Uploader) SetDelayForTest(f func() time.Duration) {
	u.delay = func(*backoff.Backoff) time.Duration { return f() }
}

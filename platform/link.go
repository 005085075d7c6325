package platform

import (
	"errors"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
)

// Link is a snapshot of the client's connection to the platform, for health reports
// and terminal management. Times are the local clock.
type Link struct {
	// LastAnswer is the time of the last verified answer (a success or a business
	// rejection: either way the platform was reached and answered for itself).
	LastAnswer time.Time `json:"lastAnswer,omitzero"`
	// LastSuccess is the time of the last call that ended ClassSuccess.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastFailure is the time of the last call without a verified answer (retryable,
	// unknown, unverified).
	LastFailure time.Time `json:"lastFailure,omitzero"`
	// LastClass, LastOp and LastError describe the last call ("" error on success);
	// LastError is masked.
	LastClass Class  `json:"lastClass"`
	LastOp    string `json:"lastOp,omitempty"`
	LastError string `json:"lastError,omitempty"`
	// ConsecutiveFailures counts calls without a verified answer since the last one
	// with; 0 when the link is up.
	ConsecutiveFailures int `json:"consecutiveFailures"`
	// Calls counts every call; ByClass counts them per outcome class.
	Calls   uint64            `json:"calls"`
	ByClass map[string]uint64 `json:"byClass"`
	// ClockOffset is the platform's clock minus ours, learned from signed answers; it
	// is added to the timestamps of requests. Zero until measured.
	ClockOffset time.Duration `json:"clockOffset"`
	// ClockMeasured is when the offset was last measured; zero: never.
	ClockMeasured time.Time `json:"clockMeasured,omitzero"`
	// ClockSkewed reports a local clock more than half the timestamp window away from
	// the platform's (or beyond maxClockOffset): fix the terminal's time (NTP).
	ClockSkewed bool `json:"clockSkewed"`
}

// Up reports whether the last call got a verified answer.
func (l Link) Up() bool { return !l.LastAnswer.IsZero() && l.ConsecutiveFailures == 0 }

// clockState is the offset learned from authenticated answers.
type clockState struct {
	set      bool
	offset   time.Duration
	measured time.Time
	rejected bool // the last sample exceeded maxClockOffset
}

// Link returns a snapshot of the link state.
func (c *Client) Link() Link {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.link
	l.ByClass = make(map[string]uint64, len(c.link.ByClass))
	for k, v := range c.link.ByClass {
		l.ByClass[k] = v
	}
	l.ClockOffset = c.clock.offset
	l.ClockMeasured = c.clock.measured
	l.ClockSkewed = c.skewedLocked()
	return l
}

// skewedLocked is Link.ClockSkewed. The caller holds c.mu.
func (c *Client) skewedLocked() bool {
	return c.clock.rejected || abs(c.clock.offset) > c.cfg.TimestampWindow.D()/2
}

// Clock is the platform's time as the terminal knows it: the local clock plus the offset
// learned from signed answers (zero until measured), and whether the local clock is
// skewed (Link.ClockSkewed: beyond half the timestamp window, or a sample refused as
// beyond maxClockOffset, in which case the offset is not corrected by it).
func (c *Client) Clock() (now time.Time, offset time.Duration, skewed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Add(c.clock.offset), c.clock.offset, c.skewedLocked()
}

// offset returns the current clock correction.
func (c *Client) offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clock.offset
}

// observeClock takes the signed server time of an authenticated answer received with
// round trip rtt, whose midpoint on our clock was mid. It returns the skew against our
// clock as corrected before this answer, and whether the sample was adopted (it is not
// when it exceeds maxClockOffset).
//
// Only authenticated times reach here: the answer's signature verified and it echoed
// our fresh requestId (never an unauthenticated server time; Hawk's "clock poisoning").
// A step of more than two seconds is adopted at once; smaller differences are smoothed
// (a quarter of the difference per answer), since timestamps have one-second resolution.
func (c *Client) observeClock(server, mid time.Time, rtt time.Duration) (skew time.Duration, adopted bool) {
	// Timestamps are truncated to the second: the server's instant lies within
	// [server, server+1s); take the middle.
	sample := server.Add(500 * time.Millisecond).Sub(mid)
	c.mu.Lock()
	defer c.mu.Unlock()
	skew = sample - c.clock.offset
	if abs(sample) > c.cfg.MaxClockOffset.D() {
		c.clock.rejected = true
		return skew, false
	}
	c.clock.rejected = false
	switch {
	case !c.clock.set || abs(skew) > 2*time.Second:
		c.clock.offset = sample
	default:
		c.clock.offset += skew / 4
	}
	c.clock.offset = c.clock.offset.Round(time.Millisecond)
	c.clock.set = true
	c.clock.measured = c.now()
	return skew, true
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// record updates the link state with the outcome of one call.
func (c *Client) record(op string, err error) {
	now := c.now()
	cl := ClassOf(err)
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.link
	l.Calls++
	if l.ByClass == nil {
		l.ByClass = map[string]uint64{}
	}
	l.ByClass[cl.String()]++
	l.LastClass, l.LastOp, l.LastError = cl, op, ""
	if err != nil {
		l.LastError = mask.Text(err.Error())
	}
	switch cl {
	case ClassSuccess, ClassRejected:
		if cl == ClassSuccess {
			l.LastSuccess = now
		}
		if answered(err) {
			l.LastAnswer = now
			l.ConsecutiveFailures = 0
		}
	default:
		// A retryable answer the platform gave (system busy) still proves the link.
		if answered(err) {
			l.LastAnswer = now
			l.ConsecutiveFailures = 0
			return
		}
		l.LastFailure = now
		l.ConsecutiveFailures++
	}
}

// answered reports whether err (or success) carries a verified platform answer.
func answered(err error) bool {
	if err == nil {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.MsgCode != ""
}

// reclassify turns the last success of e.Op into e's class: the typed layer found the
// verified result unusable.
func (c *Client) reclassify(e *Error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := &c.link
	if l.ByClass[ClassSuccess.String()] > 0 {
		l.ByClass[ClassSuccess.String()]--
	}
	l.ByClass[e.Class.String()]++
	l.LastClass, l.LastOp, l.LastError = e.Class, e.Op, mask.Text(e.Error())
	l.LastFailure = now
	l.ConsecutiveFailures++
}

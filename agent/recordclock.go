package agent

import (
	"fmt"
	"time"
)

// Record times (C.3 认证时间/业务办理时间, a medical settlement's 支付完成时间, the local
// fallbacks of payment and refund times) are Beijing time (records.FormatDateTime) of
// the terminal's clock corrected by the offset the platform client learned from signed
// answers (platform.Client.Clock): a terminal whose clock drifted still records the
// platform's time. A correction of a second or more, which changes what the record
// says, is noted: in the event that reports the record (clockOffsetSeconds,
// clockSkewed), in the log, and in the record where it has free text (a medical
// settlement's 订单名称或描述).

// recordClock is the correction in force when a record is made.
type recordClock struct {
	offset time.Duration // the platform's clock minus ours
	skewed bool          // platform.Link.ClockSkewed
}

// recordClock returns the platform client's current correction (none without a client).
func (a *Agent) recordClock() recordClock {
	c := a.link.client()
	if c == nil {
		return recordClock{}
	}
	_, off, skewed := c.Clock()
	return recordClock{offset: off, skewed: skewed}
}

// at is t, read on the local clock, on the platform's.
func (rc recordClock) at(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(rc.offset).Round(0)
}

// noted reports whether the correction is worth a note: it moves a time by a second
// or more, or the local clock is known to be off.
func (rc recordClock) noted() bool {
	return rc.skewed || rc.offset >= time.Second || rc.offset <= -time.Second
}

// note adds the correction to an event's data when it is worth a note.
func (rc recordClock) note(d map[string]any) {
	if rc.noted() {
		d["clockOffsetSeconds"] = rc.offset.Round(time.Millisecond).Seconds()
		d["clockSkewed"] = rc.skewed
	}
}

// text is the note for a record's free text ("" when there is none to make).
func (rc recordClock) text() string {
	if !rc.noted() {
		return ""
	}
	return fmt.Sprintf("（终端时钟与平台相差%+.0f秒，时间已按平台时钟校正）", rc.offset.Seconds())
}

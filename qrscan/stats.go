package qrscan

import (
	"sync"
	"sync/atomic"
)

// Stats are a scanner's counters since it was built, for telemetry and the CLI. Every
// frame is accounted for exactly once:
//
//	Frames = Scans + Empty + Overlong + TooLong + Binary + InvalidUTF8 + Stale
//	         + Duplicates + RateLimited + Busy
type Stats struct {
	// Connected is true while the device is open.
	Connected bool `json:"connected"`
	// LastError is the last open or read error (device paths and errno text only).
	LastError string `json:"lastError,omitempty"`
	// Bytes read from the device.
	Bytes uint64 `json:"bytes"`
	// Frames cut from the stream, whatever became of them.
	Frames uint64 `json:"frames"`
	// Scans delivered.
	Scans uint64 `json:"scans"`
	// Empty frames: nothing left after prefix/suffix stripping.
	Empty uint64 `json:"empty"`
	// Bad input from the device.
	Overlong    uint64 `json:"overlong"`
	TooLong     uint64 `json:"tooLong"`
	Binary      uint64 `json:"binary"`
	InvalidUTF8 uint64 `json:"invalidUTF8"`
	Stale       uint64 `json:"stale"`
	// Dropped by design.
	Duplicates  uint64 `json:"duplicates"`
	RateLimited uint64 `json:"rateLimited"`
	Busy        uint64 `json:"busy"`
	// Connection history.
	Connects     uint64 `json:"connects"`
	Disconnects  uint64 `json:"disconnects"`
	OpenFailures uint64 `json:"openFailures"`
}

// BadInput is the number of frames rejected as the device's fault.
func (s Stats) BadInput() uint64 {
	return s.Overlong + s.TooLong + s.Binary + s.InvalidUTF8 + s.Stale
}

// counters are the live, concurrently readable form of Stats.
type counters struct {
	connected                           atomic.Bool
	bytes, frames, scans, empty         atomic.Uint64
	reasons                             [len(reasonNames)]atomic.Uint64
	connects, disconnects, openFailures atomic.Uint64
	mu                                  sync.Mutex // guards lastErr
	lastErr                             string
}

func (c *counters) setErr(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	c.lastErr = err.Error()
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	last := c.lastErr
	c.mu.Unlock()
	r := func(x Reason) uint64 { return c.reasons[x].Load() }
	return Stats{
		Connected: c.connected.Load(), LastError: last,
		Bytes: c.bytes.Load(), Frames: c.frames.Load(), Scans: c.scans.Load(), Empty: c.empty.Load(),
		Overlong: r(ReasonOverlong), TooLong: r(ReasonTooLong), Binary: r(ReasonBinary),
		InvalidUTF8: r(ReasonInvalidUTF8), Stale: r(ReasonStale),
		Duplicates: r(ReasonDuplicate), RateLimited: r(ReasonRateLimited), Busy: r(ReasonBusy),
		Connects: c.connects.Load(), Disconnects: c.disconnects.Load(), OpenFailures: c.openFailures.Load(),
	}
}

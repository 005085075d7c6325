package backflow

import (
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/internal/prompt"
)

// Notice is something a person should hear about: the agent publishes it as an event
// with its prompt.
type Notice struct {
	// Code is the prompt code (see prompts.go).
	Code prompt.Code
	// Kind is the event kind: "backflow.outage", "backflow.resumed", "backflow.quarantined".
	Kind string
	// Count is the number of records concerned.
	Count int
	// Detail is the cause, masked.
	Detail string
}

// Stats is a snapshot for management telemetry and the local API.
type Stats struct {
	// Uploaded counts records acknowledged (accepted or duplicate) since start.
	Uploaded uint64 `json:"uploaded"`
	// Duplicates counts the acknowledgements that were duplicates.
	Duplicates uint64 `json:"duplicates"`
	// Quarantined counts records moved to quarantine since start.
	Quarantined uint64 `json:"quarantined"`
	// Batches counts Submit calls.
	Batches uint64 `json:"batches"`
	// InFlight is the number of records being uploaded now.
	InFlight int `json:"inFlight"`
	// Outage reports that the last call failed and the uploader is backing off.
	Outage bool `json:"outage"`
	// Failures counts consecutive failed calls.
	Failures int `json:"failures"`
	// LastSuccess and LastFailure are the times of the last calls of each kind.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastFailure time.Time `json:"lastFailure,omitzero"`
	// LastError is the last failure's cause (masked).
	LastError string `json:"lastError,omitempty"`
	// NextAttempt is when the next probe goes out during an outage.
	NextAttempt time.Time `json:"nextAttempt,omitzero"`
}

// Stats returns a snapshot.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

func (u *Uploader) record(r result, next time.Time) {
	now := u.now()
	u.count(func(s *Stats) {
		s.Uploaded += uint64(r.acked)
		s.Duplicates += uint64(r.dups)
		s.Quarantined += uint64(r.quar)
		if r.failed == nil {
			s.LastSuccess, s.Outage, s.Failures, s.NextAttempt = now, false, 0, time.Time{}
			return
		}
		s.LastFailure, s.Outage, s.LastError = now, true, mask.Text(r.failed.Error())
		s.Failures++
		if !next.IsZero() {
			s.NextAttempt = next
		}
	})
}

func (u *Uploader) setInFlight(n int) { u.count(func(s *Stats) { s.InFlight = n }) }

func (u *Uploader) count(f func(*Stats)) {
	u.mu.Lock()
	f(&u.stats)
	u.mu.Unlock()
}

func (u *Uploader) notice(n Notice) {
	if u.o.OnNotice != nil {
		u.o.OnNotice(n)
	}
}

package queue

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// LaneStats describes one lane.
type LaneStats struct {
	// Depth is the number of records waiting.
	Depth int64 `json:"depth"`
	// Bytes is what they hold.
	Bytes int64 `json:"bytes"`
	// Oldest is when the oldest waiting record was stored (zero when empty).
	Oldest time.Time `json:"oldest,omitzero"`
	// OldestAgeSeconds is its age at the time of the snapshot.
	OldestAgeSeconds float64 `json:"oldestAgeSeconds"`
}

// Stats is a snapshot for the local API, management telemetry and the CLI.
type Stats struct {
	Lanes map[Lane]LaneStats `json:"lanes"`
	// Quarantined counts the records in quarantine.
	Quarantined int64 `json:"quarantined"`
	// QuarantineBytes is what they hold.
	QuarantineBytes int64 `json:"quarantineBytes"`
	// UsedBytes counts every record, quarantined ones included, against CapBytes.
	UsedBytes int64 `json:"usedBytes"`
	// CapBytes is Options.MaxBytes; new business stops at CapBytes-ReserveBytes.
	CapBytes     int64 `json:"capBytes"`
	ReserveBytes int64 `json:"reserveBytes"`
	// FileBytes is the size of the file on disk.
	FileBytes int64 `json:"fileBytes"`
	// Full reports that new business is refused now.
	Full bool `json:"full"`
	// TelemetryDropped counts telemetry records dropped for room, ever.
	TelemetryDropped uint64 `json:"telemetryDropped"`
	// Refused counts Puts refused for the cap since the agent started.
	Refused uint64 `json:"refused"`
	// IdempotencyKeys counts the idempotency keys remembered (PutIdempotent).
	IdempotencyKeys uint64 `json:"idempotencyKeys"`
	// Recoveries lists corrupt files moved aside (the last ten).
	Recoveries []Recovery `json:"recoveries,omitempty"`
}

// Stats returns a snapshot.
func (q *Queue) Stats() (Stats, error) {
	now := q.now()
	s := Stats{Lanes: map[Lane]LaneStats{}, CapBytes: q.o.MaxBytes, ReserveBytes: q.o.ReserveBytes,
		Refused: q.refused.Load(), FileBytes: q.db.FileSize(), Recoveries: q.db.Recoveries()}
	err := q.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(qmetaBucket)
		for _, l := range Lanes {
			ls := LaneStats{Depth: int64(getU64(m, "count."+l.String())), Bytes: int64(getU64(m, "bytes."+l.String()))}
			if _, v := tx.Bucket(l.bucket()).Cursor().First(); v != nil {
				if h, _, err := decodeHeader(v); err == nil {
					ls.Oldest = time.UnixMilli(h.created)
					ls.OldestAgeSeconds = max(now.Sub(ls.Oldest).Seconds(), 0)
				}
			}
			s.Lanes[l] = ls
		}
		s.Quarantined = int64(getU64(m, "count.quarantine"))
		s.QuarantineBytes = int64(getU64(m, "bytes.quarantine"))
		s.UsedBytes = used(m)
		s.TelemetryDropped = getU64(m, "dropped.telemetry")
		s.IdempotencyKeys = getU64(m, "count.idem")
		return nil
	})
	s.Full = s.UsedBytes-s.Lanes[LaneTelemetry].Bytes+4096 > q.o.MaxBytes-q.o.ReserveBytes
	return s, err
}

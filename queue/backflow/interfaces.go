package backflow

import (
	"context"
	"fmt"

	"github.com/sscagent/sscagent/queue"
)

// Item is one record offered to the platform.
type Item struct {
	// ID is the record's stable id (terminal id + "-" + sequence); the platform
	// de-duplicates on it.
	ID string
	// Kind is the record kind ("credential", "payment", "benefit", "event").
	Kind string
	// Body is the record as queued.
	Body []byte
}

// AckStatus is the platform's answer for one record.
type AckStatus uint8

// Ack statuses.
const (
	// Accepted: the platform stored the record.
	Accepted AckStatus = iota + 1
	// Duplicate: the platform had it already (an earlier send got through); as good as
	// Accepted.
	Duplicate
	// Rejected: the platform refuses the record for good; Reason says why.
	Rejected
)

var ackNames = [...]string{"", "accepted", "duplicate", "rejected"}

func (s AckStatus) String() string {
	if int(s) < len(ackNames) && s > 0 {
		return ackNames[s]
	}
	return fmt.Sprintf("ack(%d)", uint8(s))
}

// Ack is the platform's business acknowledgement of one record.
type Ack struct {
	ID     string
	Status AckStatus
	Reason string
}

// Submitter sends one batch to the platform. A nil error means the platform answered
// verifiably; the acks then say what happened to each record (a record without an ack is
// sent again later). An error is classified with platform.ClassOf; every class is
// retried later with the same ids.
type Submitter interface {
	Submit(ctx context.Context, items []Item) ([]Ack, error)
}

// Store is the queue as the uploader uses it. *queue.Queue implements it.
type Store interface {
	Oldest(ctx context.Context, max int, skip func(seq uint64) bool) ([]queue.Record, error)
	Ack(ctx context.Context, seqs ...uint64) error
	Retry(ctx context.Context, reason string, seqs ...uint64) error
	Quarantine(ctx context.Context, seq uint64, reason string) error
	Added() <-chan struct{}
}

var _ Store = (*queue.Queue)(nil)

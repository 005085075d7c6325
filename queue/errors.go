package queue

import (
	"errors"
	"fmt"

	"github.com/sscagent/sscagent/internal/prompt"
)

// Errors. Match them with errors.Is.
var (
	// ErrFull means the cap is reached: new business must be refused. Every *FullError
	// matches it. Nothing already queued is lost.
	ErrFull = errors.New("queue full")
	// ErrTooLarge means one record is larger than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("record too large")
	// ErrInvalid means an Entry is malformed (unknown lane, empty body, bad kind).
	ErrInvalid = errors.New("invalid entry")
	// ErrWrongKey means the key does not match the one the file was written with.
	ErrWrongKey = errors.New("queue key does not match the one the queue was written with")
	// ErrKeyWrapped means the state directory's queue key is wrapped under a secret
	// (queue.keySecret) that this configuration does not name.
	ErrKeyWrapped = errors.New("the queue key is wrapped under a secret: set queue.keySecret to the credential it was sealed with")
	// ErrWrongSecret means the wrapped queue key does not open with queue.keySecret: the
	// state directory belongs to another secret (another terminal, or a copied disk).
	ErrWrongSecret = errors.New("the wrapped queue key does not open with queue.keySecret (another secret, or the file is damaged)")
	// ErrNoKey means a key is needed (to Put, or to read bodies) and none was given.
	ErrNoKey = errors.New("no queue key")
	// ErrConflict means an idempotency key was used before for a different record.
	ErrConflict = errors.New("idempotency key already used for a different record")
	// ErrReadOnly means a write was attempted on a queue opened read-only.
	ErrReadOnly = errors.New("queue opened read-only")
)

// FullError is the refusal of a Put because the queue is at its cap. The local API maps
// it to 507 Insufficient Storage; the holder and operator see PromptCode's message.
type FullError struct {
	Lane  Lane
	Used  int64 // bytes held by queued and quarantined records
	Limit int64 // the limit that applied (the cap, less the reserve for new business)
	Cap   int64
}

func (e *FullError) Error() string {
	return fmt.Sprintf("queue full: %s record refused: %s used, limit %s of cap %s; the backlog must drain first",
		e.Lane, bytesText(e.Used), bytesText(e.Limit), bytesText(e.Cap))
}

// Is makes every FullError match ErrFull.
func (e *FullError) Is(target error) bool { return target == ErrFull }

// PromptCode implements the local API's prompt lookup.
func (e *FullError) PromptCode() prompt.Code { return CodeFull }

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

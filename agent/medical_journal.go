package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/internal/boltstore"
)

// medicalFile is the settlement journal's file in the state directory.
const medicalFile = "medical.db"

// The journal's layout (schema 1):
//
//	meta/                 internal/boltstore
//	settlements/ id -> JSON   every settlement (settlement)
//	pending/ 卡识别码 -> id     the settlement whose DEBIT was sent and not answered
var (
	bSettlements = []byte("settlements")
	bPending     = []byte("pending")
)

// Settlement states.
const (
	settlePending    = "pending"     // DEBIT sent, no answer: GET TRANSACTION PROOF on the next insertion
	settleDebited    = "debited"     // the card debited (answer or proof)
	settleNotDebited = "not-debited" // the card did not debit (refused, or no proof)
)

// settlement is one medical settlement as the journal keeps it. It holds no PIN.
type settlement struct {
	ID         string        `json:"id"`
	Scene      string        `json:"scene"`
	Reader     string        `json:"reader"`
	State      string        `json:"state"`
	AuthBy     string        `json:"authBy"` // psam | hsm
	Purchase   card.Purchase `json:"purchase"`
	TermSeq    uint32        `json:"terminalSeq"`
	MAC1       [4]byte       `json:"mac1"`
	TAC        [4]byte       `json:"tac"`
	MAC2       [4]byte       `json:"mac2"`
	Verified   bool          `json:"verified"`              // MAC2 (and for the HSM the TAC) checked
	VerifyErr  string        `json:"verifyError,omitempty"` // why it could not be checked
	Recovered  bool          `json:"recovered"`             // ended by GET TRANSACTION PROOF
	Reason     string        `json:"reason,omitempty"`      // why not debited
	HolderID   string        `json:"holderId"`              // for the C.4 record
	HolderName string        `json:"holderName"`
	Type       string        `json:"settlementType"`
	Created    time.Time     `json:"created"`
	Ended      time.Time     `json:"ended,omitzero"`
	RecordID   string        `json:"recordId,omitempty"`
	// RecordOwed: the settlement is final and its C.4 record is not queued yet.
	RecordOwed bool `json:"recordOwed,omitempty"`
	// ClockOffset and ClockSkewed are the record clock's correction when it ended, so
	// that a record rebuilt after a restart is the same record.
	ClockOffset time.Duration `json:"clockOffset,omitempty"`
	ClockSkewed bool          `json:"clockSkewed,omitempty"`
}

// medicalJournal persists settlements so that a card pulled during DEBIT is never
// debited twice: the pending entry is on disk (fsync) before DEBIT is sent.
type medicalJournal struct{ db *boltstore.DB }

func openMedicalJournal(path string, log *slog.Logger) (*medicalJournal, error) {
	db, err := boltstore.Open(path, boltstore.Options{Logger: log, Schema: boltstore.Schema{Version: 1,
		Init: func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bSettlements, bPending} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		}}})
	if err != nil {
		return nil, fmt.Errorf("medical journal: %w", err)
	}
	return &medicalJournal{db: db}, nil
}

func (j *medicalJournal) Close() error { return j.db.Close() }

// put stores s (and its pending index) durably.
func (j *medicalJournal) put(ctx context.Context, s *settlement) error {
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return j.db.Update(ctx, func(tx *bolt.Tx) error {
		if err := tx.Bucket(bSettlements).Put([]byte(s.ID), body); err != nil {
			return err
		}
		p := tx.Bucket(bPending)
		if s.State == settlePending {
			return p.Put([]byte(s.Purchase.CardID), []byte(s.ID))
		}
		if string(p.Get([]byte(s.Purchase.CardID))) == s.ID {
			return p.Delete([]byte(s.Purchase.CardID))
		}
		return nil
	})
}

var errNoSettlement = errors.New("no such settlement")

// get returns the settlement id.
func (j *medicalJournal) get(id string) (*settlement, error) {
	var s *settlement
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSettlements).Get([]byte(id))
		if b == nil {
			return errNoSettlement
		}
		s = new(settlement)
		return json.Unmarshal(b, s)
	})
	return s, err
}

// owingRecords returns the final settlements whose record is not queued yet.
func (j *medicalJournal) owingRecords() ([]*settlement, error) {
	var out []*settlement
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bSettlements).ForEach(func(_, v []byte) error {
			s := new(settlement)
			if err := json.Unmarshal(v, s); err != nil {
				return err
			}
			if s.RecordOwed && s.State != settlePending {
				out = append(out, s)
			}
			return nil
		})
	})
	return out, err
}

// pendingFor returns the pending settlement of a card, or nil.
func (j *medicalJournal) pendingFor(cardID string) (*settlement, error) {
	var id string
	if err := j.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bPending).Get([]byte(cardID)))
		return nil
	}); err != nil || id == "" {
		return nil, err
	}
	return j.get(id)
}

// prune deletes the settlements that ended before cutoff and owe nothing: not-debited
// ones, and debited ones whose C.4 record is queued. Pending settlements (the card's
// answer unknown) and debited ones whose record is not queued stay whatever their age.
func (j *medicalJournal) prune(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := j.db.Update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bSettlements)
		var del [][]byte
		_ = b.ForEach(func(k, v []byte) error {
			var s settlement
			if json.Unmarshal(v, &s) != nil || s.Ended.IsZero() || !s.Ended.Before(cutoff) {
				return nil
			}
			// Never one whose C.4 record is still owed (reconcileMedical queues it).
			if !s.RecordOwed && (s.State == settleNotDebited || (s.State == settleDebited && s.RecordID != "")) {
				del = append(del, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range del {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(del)
		return nil
	})
	return n, err
}

package platform

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sscagent/sscagent/platform/protocol"
)

// BackflowRecord is one business record to flow back (数据回流): a C.3 credential,
// C.4 payment or C.5 benefit record with its stable id.
type BackflowRecord struct {
	// RecordID is the stable id (terminal id + sequence) the platform de-duplicates on.
	RecordID string
	// Kind is credential, payment or benefit (records.Kind).
	Kind string
	// Record is the record's JSON (records package); sent SM4-encrypted.
	Record []byte
}

// RecordStatus is the platform's answer for one record.
type RecordStatus string

// Record statuses.
const (
	RecordAccepted  RecordStatus = protocol.RecordAccepted
	RecordDuplicate RecordStatus = protocol.RecordDuplicate
	RecordRejected  RecordStatus = protocol.RecordRejected
)

// BackflowAck is the platform's answer for one submitted record.
type BackflowAck struct {
	RecordID string
	Status   RecordStatus
	// Reason says why a record was rejected.
	Reason string
}

// Stored reports whether the platform holds the record (accepted, or a duplicate of
// one it already had): the record may be deleted locally.
func (a BackflowAck) Stored() bool { return a.Status == RecordAccepted || a.Status == RecordDuplicate }

// SubmitRecords flows back a batch of 1 to protocol.MaxBackflowBatch records and
// returns one acknowledgement per record, in the order submitted. Sending the same
// record again is safe: the platform answers duplicate.
func (c *Client) SubmitRecords(ctx context.Context, recs []BackflowRecord) ([]BackflowAck, error) {
	var in inputCheck
	if len(recs) == 0 || len(recs) > protocol.MaxBackflowBatch {
		in.add("records", fmt.Sprintf("must hold 1-%d records, got %d", protocol.MaxBackflowBatch, len(recs)))
	}
	list := make([]map[string]string, 0, len(recs))
	seen := map[string]bool{}
	for i, r := range recs {
		name := fmt.Sprintf("records[%d]", i)
		in.pattern(name+".recordId", r.RecordID, reRecordID, "1-64 letters, digits, '-', '_' or '.'")
		if seen[r.RecordID] {
			in.add(name+".recordId", "appears twice in the batch")
		}
		seen[r.RecordID] = true
		if r.Kind != "credential" && r.Kind != "payment" && r.Kind != "benefit" {
			in.add(name+".kind", "must be credential, payment or benefit")
		}
		if len(r.Record) == 0 || len(r.Record) > 64<<10 || !json.Valid(r.Record) {
			in.add(name+".record", "must be a JSON text of at most 64 KiB")
		}
		list = append(list, map[string]string{"recordId": r.RecordID, "kind": r.Kind, "record": string(r.Record)})
	}
	if err := in.err(protocol.OpBackflow); err != nil {
		return nil, err
	}
	var d protocol.Data
	d.SetList("records", list)
	rep, err := c.Call(ctx, protocol.OpBackflow, d)
	if err != nil {
		return nil, err
	}
	byID := map[string]BackflowAck{}
	for _, e := range rep.Result.Lists["results"] {
		a := BackflowAck{RecordID: e["recordId"], Status: RecordStatus(e["status"]), Reason: e["reason"]}
		if !seen[a.RecordID] {
			return nil, c.unverified(rep, fmt.Errorf("acknowledgement for record %q that was not submitted", a.RecordID))
		}
		if _, dup := byID[a.RecordID]; dup {
			return nil, c.unverified(rep, fmt.Errorf("record %q acknowledged twice", a.RecordID))
		}
		if a.Status != RecordAccepted && a.Status != RecordDuplicate && a.Status != RecordRejected {
			return nil, c.unverified(rep, fmt.Errorf("record %q: status %q", a.RecordID, a.Status))
		}
		byID[a.RecordID] = a
	}
	acks := make([]BackflowAck, len(recs))
	for i, r := range recs {
		a, ok := byID[r.RecordID]
		if !ok {
			return nil, c.unverified(rep, fmt.Errorf("no acknowledgement for record %q", r.RecordID))
		}
		acks[i] = a
	}
	return acks, nil
}

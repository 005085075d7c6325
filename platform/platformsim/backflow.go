package platformsim

import (
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
	"github.com/sscagent/sscagent/records"
)

type recordEntry struct {
	kind       string
	record     []byte // canonical JSON (records.Encode)
	received   int
	conflicts  int
	firstAt    time.Time
	channel    string
	terminalID string
}

func (st *state) backflow(channel string, d protocol.Data, now time.Time) (protocol.Data, string, string) {
	recs := d.Lists["records"]
	if len(recs) > protocol.MaxBackflowBatch {
		return fail(protocol.CodeBatchTooLarge)
	}
	if len(recs) == 0 {
		return protocol.Data{}, protocol.CodeBadRequest, "records 为空"
	}
	seen := map[string]bool{}
	results := make([]map[string]string, 0, len(recs))
	for _, e := range recs {
		id, kind := e["recordId"], e["kind"]
		if seen[id] {
			return protocol.Data{}, protocol.CodeBadRequest, "recordId 重复"
		}
		seen[id] = true
		res := map[string]string{"recordId": id}
		results = append(results, res)
		rec, err := records.Parse(records.Kind(kind), []byte(e["record"]))
		if err != nil {
			res["status"], res["reason"] = protocol.RecordRejected, err.Error()
			st.rejected = append(st.rejected, RejectedRecord{RecordID: id, Kind: kind, Reason: err.Error(), At: now})
			continue
		}
		canon, err := records.Encode(rec)
		if err != nil { // Parse normalised it; cannot happen
			res["status"], res["reason"] = protocol.RecordRejected, err.Error()
			continue
		}
		if old, ok := st.records[id]; ok {
			old.received++
			if old.kind != kind || string(old.record) != string(canon) {
				old.conflicts++
			}
			res["status"] = protocol.RecordDuplicate
			continue
		}
		st.records[id] = &recordEntry{kind: kind, record: canon, received: 1, firstAt: now, channel: channel,
			terminalID: d.Get("terminalId")}
		res["status"] = protocol.RecordAccepted
	}
	var r protocol.Data
	r.SetList("results", results)
	return r, protocol.CodeOK, ""
}

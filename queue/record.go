package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Lane is a class of records with its own drop policy.
type Lane uint8

// Lanes.
const (
	// LaneMoney holds records of money moved: C.4 支付结算 and C.5 待遇发放. Never dropped.
	LaneMoney Lane = iota + 1
	// LaneIdentity holds records of identity use: C.3 办事凭证. Never dropped.
	LaneIdentity
	// LaneTelemetry holds events and metrics for the platform or management. Dropped
	// oldest first when over its budget or when room is needed for the other lanes.
	LaneTelemetry
)

// Lanes lists every lane in drain priority order.
var Lanes = []Lane{LaneMoney, LaneIdentity, LaneTelemetry}

var laneNames = [...]string{"", "money", "identity", "telemetry"}

func (l Lane) String() string {
	if l.Valid() {
		return laneNames[l]
	}
	return fmt.Sprintf("lane(%d)", uint8(l))
}

// Valid reports whether l is a known lane.
func (l Lane) Valid() bool { return l >= LaneMoney && l <= LaneTelemetry }

// MarshalText writes the lane's name.
func (l Lane) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a lane's name.
func (l *Lane) UnmarshalText(b []byte) error {
	v, err := ParseLane(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLane returns the lane named s ("money", "identity", "telemetry").
func ParseLane(s string) (Lane, error) {
	for i, n := range laneNames {
		if i > 0 && n == s {
			return Lane(i), nil
		}
	}
	return 0, fmt.Errorf("unknown lane %q (money, identity, telemetry)", s)
}

func (l Lane) bucket() []byte { return []byte("lane." + l.String()) }

// Record is a queued record as read back.
type Record struct {
	// Seq is the sequence number, the record's key.
	Seq uint64 `json:"seq"`
	// ID is the stable id sent with the record: terminal id + "-" + sequence.
	ID string `json:"id"`
	// Lane is the record's lane.
	Lane Lane `json:"lane"`
	// Kind is the record kind given to Put ("credential", "payment", "benefit", ...).
	Kind string `json:"kind"`
	// Created is when Put stored it.
	Created time.Time `json:"created"`
	// Attempts counts failed uploads.
	Attempts int `json:"attempts"`
	// LastError is why the last upload failed (masked).
	LastError string `json:"lastError,omitempty"`
	// Body is the record as given to Put (decrypted). Nil when only metadata was read.
	Body []byte `json:"-"`
	// Damaged says why the record could not be read back (a value or body damaged at
	// rest); its Body is nil. The uploader quarantines damaged records.
	Damaged string `json:"damaged,omitempty"`
}

const (
	recordFormat     = 1
	quarantineFormat = 1
	flagSealed       = 1 << 0
	fixedHeader      = 1 + 1 + 1 + 8 + 4
	// MaxKindLen bounds a record kind.
	MaxKindLen = 32
	maxIDLen   = 64
	maxErrLen  = 200
)

var errFormat = errors.New("queue: malformed record value")

// header is a record value without its body.
type header struct {
	lane     Lane
	flags    byte
	created  int64 // unix ms
	attempts uint32
	kind     string
	id       string
	lastErr  string
}

func (h *header) size() int {
	return fixedHeader + uvarintLen(len(h.kind)) + len(h.kind) + uvarintLen(len(h.id)) + len(h.id) +
		uvarintLen(len(h.lastErr)) + len(h.lastErr)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// encode appends the header and body to dst.
func (h *header) encode(dst, body []byte) []byte {
	dst = append(dst, recordFormat, byte(h.lane), h.flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.created))
	dst = binary.BigEndian.AppendUint32(dst, h.attempts)
	for _, s := range []string{h.kind, h.id, h.lastErr} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return append(dst, body...)
}

// decodeHeader parses a record value; body aliases v.
func decodeHeader(v []byte) (h header, body []byte, err error) {
	if len(v) < fixedHeader || v[0] != recordFormat {
		return h, nil, errFormat
	}
	h.lane, h.flags = Lane(v[1]), v[2]
	if !h.lane.Valid() || h.flags&^flagSealed != 0 {
		return h, nil, errFormat
	}
	h.created = int64(binary.BigEndian.Uint64(v[3:]))
	h.attempts = binary.BigEndian.Uint32(v[11:])
	rest := v[fixedHeader:]
	limits := [...]int{MaxKindLen, maxIDLen, maxErrLen}
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(limits[i]) || n > uint64(len(rest)-k) {
			return h, nil, errFormat
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	h.kind, h.id, h.lastErr = fields[0], fields[1], fields[2]
	return h, rest, nil
}

// encodeQuarantined wraps a record value with the quarantine time and reason.
func encodeQuarantined(at int64, reason string, value []byte) []byte {
	out := make([]byte, 0, 9+binary.MaxVarintLen64+len(reason)+len(value))
	out = append(out, quarantineFormat)
	out = binary.BigEndian.AppendUint64(out, uint64(at))
	out = binary.AppendUvarint(out, uint64(len(reason)))
	out = append(out, reason...)
	return append(out, value...)
}

// decodeQuarantined splits a quarantined value; value aliases v.
func decodeQuarantined(v []byte) (at int64, reason string, value []byte, err error) {
	if len(v) < 9 || v[0] != quarantineFormat {
		return 0, "", nil, errFormat
	}
	at = int64(binary.BigEndian.Uint64(v[1:]))
	rest := v[9:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > maxErrLen || n > uint64(len(rest)-k) {
		return 0, "", nil, errFormat
	}
	return at, string(rest[k : k+int(n)]), rest[k+int(n):], nil
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func keySeq(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

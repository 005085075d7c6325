package platformsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

// FaultKind is what an injected fault does to a call.
type FaultKind string

// Fault kinds. "Before" kinds act instead of processing: the platform does nothing.
// "After" kinds process the request (the platform acts: an order is charged, a record
// stored) and then spoil the answer, so the client must not learn the outcome from it.
const (
	// FaultLatency waits Delay, then processes and answers normally.
	FaultLatency FaultKind = "latency"
	// FaultHTTP answers HTTP Status (default 503) with a plain body; nothing processed.
	FaultHTTP FaultKind = "http"
	// FaultMsgCode answers a signed envelope with MsgCode (default 900008, busy);
	// nothing processed.
	FaultMsgCode FaultKind = "msgCode"
	// FaultDropBefore closes the connection without an answer; nothing processed.
	FaultDropBefore FaultKind = "dropBefore"
	// FaultDropAfter processes, then closes the connection without an answer: the
	// platform acted and the client never hears.
	FaultDropAfter FaultKind = "dropAfter"
	// FaultDelayAfter processes, then waits Delay before answering (longer than the
	// client's timeout: the client gives up, the platform acted).
	FaultDelayAfter FaultKind = "delayAfter"
	// FaultMalformed processes, then answers 200 with a body that is not an envelope.
	FaultMalformed FaultKind = "malformed"
	// FaultBadSignature processes, then answers with a corrupted signature.
	FaultBadSignature FaultKind = "badSignature"
	// FaultWrongRequestID processes, then answers (correctly signed) with a requestId
	// that is not the request's.
	FaultWrongRequestID FaultKind = "wrongRequestId"
	// FaultStaleResponse processes, then answers (correctly signed) with a timestamp
	// shifted by Skew (default -10m).
	FaultStaleResponse FaultKind = "staleResponse"
	// FaultRecall makes a reversal answer recall=Y without doing anything (reverse only).
	FaultRecall FaultKind = "recall"
)

var faultKinds = []FaultKind{FaultLatency, FaultHTTP, FaultMsgCode, FaultDropBefore, FaultDropAfter, FaultDelayAfter,
	FaultMalformed, FaultBadSignature, FaultWrongRequestID, FaultStaleResponse, FaultRecall}

// before reports whether k acts instead of processing.
func (k FaultKind) before() bool {
	return k == FaultHTTP || k == FaultMsgCode || k == FaultDropBefore
}

// Fault is one fault-injection rule. Rules are tried in order; the first that matches
// a call and fires is applied (one fault per call).
type Fault struct {
	// Op is the operation it applies to, or "*" for all.
	Op string `json:"op"`
	// Kind is what it does.
	Kind FaultKind `json:"kind"`
	// Count > 0 fires the rule on the next Count matching calls, then removes it.
	// Zero: the rule stays, firing with probability Rate.
	Count int `json:"count,omitempty"`
	// Rate is the probability (0-1] that a matching call fires the rule; zero means 1.
	// The sandbox's random source is seeded (Options.Seed), so runs repeat exactly.
	Rate float64 `json:"rate,omitempty"`
	// Delay is the wait of latency and delayAfter.
	Delay Duration `json:"delay,omitempty"`
	// Status is the HTTP status of http (default 503).
	Status int `json:"status,omitempty"`
	// MsgCode is the code of msgCode (default 900008).
	MsgCode string `json:"msgCode,omitempty"`
	// Skew is the timestamp shift of staleResponse (default -10m).
	Skew Duration `json:"skew,omitempty"`
}

// Duration is a time.Duration written as "10s" in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Validate checks a rule and fills its defaults.
func (f *Fault) Validate() error {
	if f.Op != "*" {
		if _, ok := protocol.LookupOp(protocol.Op(f.Op)); !ok {
			return fmt.Errorf("fault: unknown operation %q (or *)", f.Op)
		}
	}
	if !slices.Contains(faultKinds, f.Kind) {
		return fmt.Errorf("fault: unknown kind %q", f.Kind)
	}
	if f.Count < 0 || f.Rate < 0 || f.Rate > 1 || f.Delay < 0 {
		return errors.New("fault: count, rate (0-1) and delay must not be negative")
	}
	if time.Duration(f.Delay) > 10*time.Minute {
		return errors.New("fault: delay at most 10m")
	}
	switch f.Kind {
	case FaultHTTP:
		if f.Status == 0 {
			f.Status = 503
		}
		if f.Status < 300 || f.Status > 599 {
			return fmt.Errorf("fault: status %d is not 300-599", f.Status)
		}
	case FaultMsgCode:
		if f.MsgCode == "" {
			f.MsgCode = protocol.CodeBusy
		}
		if len(f.MsgCode) != 6 || strings.Trim(f.MsgCode, "0123456789") != "" || f.MsgCode == protocol.CodeOK {
			return fmt.Errorf("fault: msgCode %q is not a 6-digit failure code", f.MsgCode)
		}
	case FaultStaleResponse:
		if f.Skew == 0 {
			f.Skew = Duration(-10 * time.Minute)
		}
	case FaultRecall:
		if f.Op != string(protocol.OpReverse) {
			return errors.New("fault: recall applies to reverse only")
		}
	}
	return nil
}

// ParseFault reads the flag form of a rule: OP:KIND[:key=value]..., keys count, rate,
// delay, status, code and skew; e.g. "micropay:dropAfter:count=1",
// "*:latency:delay=200ms:rate=0.1", "cardAuth:http:status=502".
func ParseFault(s string) (Fault, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 {
		return Fault{}, fmt.Errorf("fault %q: want OP:KIND[:key=value]...", s)
	}
	f := Fault{Op: parts[0], Kind: FaultKind(parts[1])}
	for _, kv := range parts[2:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Fault{}, fmt.Errorf("fault %q: %q is not key=value", s, kv)
		}
		var err error
		switch k {
		case "count":
			f.Count, err = strconv.Atoi(v)
		case "rate":
			f.Rate, err = strconv.ParseFloat(v, 64)
		case "delay":
			err = f.Delay.UnmarshalText([]byte(v))
		case "skew":
			err = f.Skew.UnmarshalText([]byte(v))
		case "status":
			f.Status, err = strconv.Atoi(v)
		case "code":
			f.MsgCode = v
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %v", s, k, err)
		}
	}
	if err := f.Validate(); err != nil {
		return Fault{}, fmt.Errorf("%v (in %q)", err, s)
	}
	return f, nil
}

// faults holds the rules and the seeded random source.
type faults struct {
	mu    sync.Mutex // guards the fields below
	rules []Fault
	rnd   *rand.Rand
	fired map[FaultKind]int
}

func newFaults(seed int64) *faults {
	return &faults{rnd: rand.New(rand.NewPCG(uint64(seed), 0x5eed)), fired: map[FaultKind]int{}}
}

// pick returns the fault for one call of op, if any fires.
func (fs *faults) pick(op protocol.Op) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := range fs.rules {
		f := &fs.rules[i]
		if f.Op != "*" && f.Op != string(op) {
			continue
		}
		if f.Kind == FaultRecall && op != protocol.OpReverse {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && fs.rnd.Float64() >= f.Rate {
			continue
		}
		got := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				fs.rules = slices.Delete(fs.rules, i, i+1)
			}
		}
		fs.fired[got.Kind]++
		return got, true
	}
	return Fault{}, false
}

func (fs *faults) add(rules ...Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = append(fs.rules, rules...)
}

func (fs *faults) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.rules = nil
}

// FaultState is what GET /_sim/faults returns.
type FaultState struct {
	Rules []Fault `json:"rules"`
	// Fired counts the faults applied so far, by kind.
	Fired map[FaultKind]int `json:"fired"`
}

func (fs *faults) state() FaultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	st := FaultState{Rules: slices.Clone(fs.rules), Fired: map[FaultKind]int{}}
	if st.Rules == nil {
		st.Rules = []Fault{}
	}
	for k, v := range fs.fired {
		st.Fired[k] = v
	}
	return st
}

// parseFaultsJSON reads one rule or a list of rules.
func parseFaultsJSON(b []byte) ([]Fault, error) {
	var list []Fault
	trimmed := strings.TrimSpace(string(b))
	if strings.HasPrefix(trimmed, "{") {
		var f Fault
		if err := strictJSON(b, &f); err != nil {
			return nil, err
		}
		list = []Fault{f}
	} else if err := strictJSON(b, &list); err != nil {
		return nil, err
	}
	for i := range list {
		if err := list[i].Validate(); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

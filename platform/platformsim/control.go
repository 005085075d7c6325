package platformsim

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Ledger is what the sandbox accepted, as GET /_sim/ledger returns it. The sandbox
// holds only test identities; payer ID numbers are masked all the same.
type Ledger struct {
	// Records are the backflow records stored, by record id.
	Records map[string]LedgerRecord `json:"records"`
	// RejectedRecords are the backflow records refused, in order.
	RejectedRecords []RejectedRecord `json:"rejectedRecords"`
	// Payments are the orders, by channel "/" order number.
	Payments map[string]LedgerPayment `json:"payments"`
	// Refunds are the refunds, by channel "/" order number "/" refund number.
	Refunds map[string]LedgerRefund `json:"refunds"`
	// Requests counts the requests answered 000000, per operation.
	Requests map[string]int `json:"requests"`
	// ApplicationNos counts the requests answered 000000 per operation and envelope
	// applicationNo ("cardAuth/02"; "cardAuth/" without one).
	ApplicationNos map[string]int `json:"applicationNos"`
	// Answers counts every answer per msgCode (refusals included).
	Answers map[string]int `json:"answers"`
}

// LedgerRecord is one stored backflow record.
type LedgerRecord struct {
	Kind string `json:"kind"`
	// Record is the record as stored: records.Encode of what was received.
	Record json.RawMessage `json:"record"`
	// Received counts submissions of this id; Duplicates is Received-1.
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	// Conflicts counts later submissions of this id with other content (still answered
	// duplicate: the platform keeps the first).
	Conflicts  int       `json:"conflicts"`
	FirstAt    time.Time `json:"firstAt"`
	Channel    string    `json:"channel"`
	TerminalID string    `json:"terminalId"`
}

// RejectedRecord is one refused backflow record.
type RejectedRecord struct {
	RecordID string    `json:"recordId"`
	Kind     string    `json:"kind"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// LedgerPayment is one order and how it got to its state.
type LedgerPayment struct {
	OrderNo string `json:"orderNo"`
	State   string `json:"state"`
	// Amount is yuan with two decimals ("" for a merchant code whose holder has not
	// entered one).
	Amount     string       `json:"amount,omitempty"`
	TradeNo    string       `json:"tradeNo,omitempty"`
	PaidTime   time.Time    `json:"paidTime,omitzero"`
	FailReason string       `json:"failReason,omitempty"`
	Payer      string       `json:"payer,omitempty"` // masked ID number
	Merchant   bool         `json:"merchantCode,omitempty"`
	History    []Transition `json:"history"`
}

// Transition is one state change of an order.
type Transition struct {
	At    time.Time `json:"at"`
	State string    `json:"state"`
}

// Ledger returns a snapshot of what the sandbox accepted, after moving every order
// along the clock.
func (s *Server) Ledger() Ledger {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	l := Ledger{Records: map[string]LedgerRecord{}, RejectedRecords: append([]RejectedRecord{}, st.rejected...),
		Payments: map[string]LedgerPayment{}, Requests: map[string]int{}, Answers: map[string]int{}}
	for id, r := range st.records {
		l.Records[id] = LedgerRecord{Kind: r.kind, Record: append(json.RawMessage(nil), r.record...), Received: r.received,
			Duplicates: r.received - 1, Conflicts: r.conflicts, FirstAt: r.firstAt, Channel: r.channel, TerminalID: r.terminalID}
	}
	for key, o := range st.orders {
		st.settle(o, now)
		p := LedgerPayment{OrderNo: o.orderNo, State: o.state, TradeNo: o.tradeNo, PaidTime: o.paidTime,
			FailReason: o.failReason, Merchant: o.merchantCode != "", History: append([]Transition{}, o.history...)}
		if o.amount > 0 {
			p.Amount = formatYuan(o.amount)
		}
		if o.idNumber != "" {
			p.Payer = mask.IDNumber(o.idNumber)
		}
		l.Payments[key] = p
	}
	for k, v := range st.requests {
		l.Requests[k] = v
	}
	for k, v := range st.answers {
		l.Answers[k] = v
	}
	l.ApplicationNos = maps.Clone(st.apps)
	l.Refunds = st.ledgerRefunds()
	return l
}

// IssueQR returns a fresh e-card code for a registered e-card holder, valid for
// Options.QRLifetime and single use.
func (s *Server) IssueQR(idNumber string) (code string, expires time.Time, err error) {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.issueQR(idNumber, now, s.opts.QRLifetime)
}

// Balance returns the balance of an e-card holder's account, yuan with two decimals.
func (s *Server) Balance(idNumber string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return formatYuan(s.state.balances[idNumber])
}

// control registers the /_sim endpoints:
//
//	POST   /_sim/ecard/qrcode        {"idNumber"}                    -> {"qrCode","expiresAt"}
//	POST   /_sim/ecard/pay-merchant  {"qrContent","idNumber","amount"} -> the order
//	POST   /_sim/pay/confirm         {"channelNo","orderNo","decline"} -> the order
//	GET    /_sim/ledger                                               -> Ledger
//	POST   /_sim/login/approve       {"code":"...","idNumber":"...","refuse":false}
//	GET    /_sim/faults | POST (a Fault or a list) | DELETE
//	POST   /_sim/clock               {"offset":"-10m"}
//	GET    /_sim/keys                                                 -> fingerprints
//
// They answer loopback clients only, or any client with the bearer ControlToken when
// one is set.
func (s *Server) control(mux *http.ServeMux) {
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if !s.controlAllowed(r) {
				http.Error(w, "control endpoints: loopback or bearer token only", http.StatusForbidden)
				return
			}
			f(w, r)
		})
	}
	h("POST /_sim/ecard/qrcode", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			IDNumber string `json:"idNumber"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		code, exp, err := s.IssueQR(in.IDNumber)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"qrCode": code, "expiresAt": exp})
	})
	h("POST /_sim/ecard/pay-merchant", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			QRContent string `json:"qrContent"`
			IDNumber  string `json:"idNumber"`
			Amount    string `json:"amount"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.orderAction(w, func(st *state, now time.Time) (*order, error) {
			return st.payMerchant(in.QRContent, in.IDNumber, in.Amount, now)
		})
	})
	h("POST /_sim/pay/confirm", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ChannelNo string `json:"channelNo"`
			OrderNo   string `json:"orderNo"`
			Decline   string `json:"decline"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.orderAction(w, func(st *state, now time.Time) (*order, error) {
			return st.confirm(in.ChannelNo, in.OrderNo, in.Decline, now)
		})
	})
	h("POST /_sim/login/approve", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code     string `json:"code"`
			IDNumber string `json:"idNumber"`
			Refuse   bool   `json:"refuse"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		id, err := s.ApproveLogin(in.Code, in.IDNumber, in.Refuse)
		switch {
		case errors.Is(err, ErrLoginUnknown):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusConflict)
		default:
			writeJSON(w, map[string]any{"loginId": id, "refused": in.Refuse})
		}
	})
	h("GET /_sim/ledger", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Ledger()) })
	h("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Faults()) })
	h("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			return
		}
		fs, err := parseFaultsJSON(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.faults.add(fs...)
		writeJSON(w, s.Faults())
	})
	h("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		writeJSON(w, s.Faults())
	})
	h("POST /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Offset Duration `json:"offset"`
		}
		if !readJSON(w, r, &in) {
			return
		}
		s.SetClockOffset(time.Duration(in.Offset))
		writeJSON(w, map[string]any{"offset": in.Offset, "now": protocol.FormatTime(s.clock())})
	})
	h("GET /_sim/keys", func(w http.ResponseWriter, r *http.Request) {
		chans := map[string]string{}
		for no, ch := range s.opts.Channels {
			chans[no] = ch.PublicKey.Fingerprint()
		}
		writeJSON(w, map[string]any{"platform": s.opts.PlatformKey.Public().Fingerprint(), "channels": chans})
	})
}

// orderAction runs a control action on an order and answers the order's state (the
// payer's ID number masked), or 409 with the reason.
func (s *Server) orderAction(w http.ResponseWriter, act func(*state, time.Time) (*order, error)) {
	now := s.clock()
	s.mu.Lock()
	o, err := act(s.state, now)
	var out map[string]string
	if err == nil {
		out = s.state.result(o).Fields
		if id := out["idNumber"]; id != "" {
			out["idNumber"] = mask.IDNumber(id)
		}
	}
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	writeJSON(w, out)
}

func (s *Server) controlAllowed(r *http.Request) bool {
	if s.opts.ControlToken != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.ControlToken)) == 1
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err == nil {
		err = strictJSON(b, v)
	}
	if err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

package platformsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

// state is everything the sandbox remembers. Guarded by Server.mu.
type state struct {
	reg       *Registry
	threshold int64 // fen; micropay above needs the password
	balances  map[string]int64
	qr        map[string]*qrCode
	orders    map[string]*order  // by channel + "/" + orderNo
	refunds   map[string]*refund // by refundKey
	merchant  map[string]string  // qrContent -> order key
	records   map[string]*recordEntry
	rejected  []RejectedRecord
	requests  map[string]int // accepted requests per operation
	apps      map[string]int // accepted requests per operation "/" envelope applicationNo
	answers   map[string]int // answers per msgCode
	tradeSeq  int
	med       medicalState
	logins    loginState
}

func newState(reg *Registry, threshold int64) *state {
	st := &state{reg: reg, threshold: threshold, balances: map[string]int64{}, qr: map[string]*qrCode{},
		orders: map[string]*order{}, refunds: map[string]*refund{}, merchant: map[string]string{}, records: map[string]*recordEntry{},
		requests: map[string]int{}, apps: map[string]int{}, answers: map[string]int{}}
	for _, p := range reg.Persons {
		if p.ECard != nil {
			st.balances[p.IDNumber], _ = parseYuan(p.ECard.Balance) // checked by ParseRegistry
		}
	}
	return st
}

func (s *Server) count(op protocol.Op, code, applicationNo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.answers[code]++
	if code == protocol.CodeOK {
		s.state.requests[string(op)]++
		s.state.apps[string(op)+"/"+applicationNo]++
	}
}

// run executes a verified operation.
func (s *Server) run(op protocol.Op, channel string, d protocol.Data, now time.Time, recall bool) (protocol.Data, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	switch op {
	case protocol.OpCardAuth:
		return st.cardAuth(d, now)
	case protocol.OpCardInternalAuth:
		return st.internalAuth(s.opts.HSM, d)
	case protocol.OpECardDecode:
		return st.ecardDecode(d, now)
	case protocol.OpMicropay:
		return st.micropay(channel, d, now, s.opts.UserPaying)
	case protocol.OpOrderQuery:
		return st.query(channel, d, now)
	case protocol.OpReverse:
		return st.reverse(channel, d, now, s.opts.ReverseWindow, recall)
	case protocol.OpMerchantQR:
		return st.merchantQR(channel, d, now)
	case protocol.OpBackflow:
		return st.backflow(channel, d, now)
	case protocol.OpMedicalPurchaseAuth:
		return st.medicalAuth(s.opts.HSM, d)
	case protocol.OpMedicalPurchaseVerify:
		return st.medicalVerify(s.opts.HSM, d)
	case protocol.OpRefund:
		return st.refund(channel, d, now)
	case protocol.OpRefundQuery:
		return st.refundQuery(channel, d)
	case protocol.OpFaceVerify:
		return st.faceVerify(d)
	case protocol.OpLoginCode:
		return st.loginCode(d, now)
	case protocol.OpLoginPoll:
		return st.loginPoll(d, now)
	}
	return protocol.Data{}, protocol.CodeNoService, ""
}

func fail(code string) (protocol.Data, string, string) { return protocol.Data{}, code, "" }

var reYuan = regexp.MustCompile(`^(0|[1-9][0-9]{0,9})\.[0-9]{2}$`)

// parseYuan reads yuan with exactly two decimals into fen.
func parseYuan(s string) (int64, error) {
	if !reYuan.MatchString(s) {
		return 0, fmt.Errorf("amount %q is not yuan with two decimals", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, nil
}

func formatYuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

func hash(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

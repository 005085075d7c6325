package platformsim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/platform/protocol"
)

// CardHSM computes the platform side of the HSM two-step card authentication
// (reference/domain.md §2.5): from the Step-1 string of iReadCardBas_HSM_Step1 it
// returns the pKey for iReadCardBas_HSM_Step2. The card path's sandbox implements it
// with the virtual cards' test keys.
type CardHSM interface {
	InternalAuth(step1 string) (pKey string, err error)
}

// Errors a CardHSM may return, wrapped or not. ErrUnknownCard answers 100002; any other
// error means the HSM could not process the Step-1 data and answers 100009, a business
// rejection (the sandbox HSM is pure computation: it has no transient failures).
var (
	// ErrBadStep1: the Step-1 string is malformed (answers 100009).
	ErrBadStep1 = errors.New("malformed step-1 data")
	// ErrUnknownCard: no key for this card (answers 100002).
	ErrUnknownCard = errors.New("no key for this card")
)

// Channel is a registered channel (one-card-pass application system).
type Channel struct {
	// PublicKey verifies the channel's requests.
	PublicKey *protocol.PublicKey
	// SM4Key decrypts and encrypts its sensitive fields.
	SM4Key []byte
}

// Options configure a sandbox. Zero values are the documented defaults.
type Options struct {
	// PlatformKey signs every answer. Required.
	PlatformKey *protocol.PrivateKey
	// Channels are the registered channels by channel number. At least one.
	Channels map[string]Channel
	// Scheme, SM4Mode and SM4Encoding must match the terminals' platform.signature and
	// platform.sm4 settings. Zero: the defaults (DER, base64; CBC, base64).
	Scheme      protocol.Scheme
	SM4Mode     protocol.SM4Mode
	SM4Encoding protocol.Encoding
	// Window is the accepted distance of a request's timestamp from the sandbox clock.
	// Zero: 300s. Request ids are remembered for twice the window.
	Window time.Duration
	// Registry holds the persons and cards. Nil: DefaultRegistry().
	Registry *Registry
	// HSM answers cardInternalAuth. Nil: those requests are refused (100008).
	HSM CardHSM
	// Now is the sandbox clock. Nil: time.Now. SetClockOffset shifts it.
	Now func() time.Time
	// Seed seeds the random source of rate-based faults, so runs repeat exactly.
	Seed int64
	// Faults are installed at start.
	Faults []Fault
	// PasswordAbove: micropay amounts above it need the holder's password and stay
	// USERPAYING until confirmed (or UserPaying passes). Zero: "1000.00".
	PasswordAbove string
	// UserPaying is how long a password payment stays USERPAYING before the sandbox
	// completes it by itself. Zero: 10s.
	UserPaying time.Duration
	// QRLifetime is the validity of the e-card codes the sandbox issues. Zero: 60s.
	QRLifetime time.Duration
	// ReverseWindow is how long after its creation an order can be reversed. Zero: 24h.
	ReverseWindow time.Duration
	// ControlToken, when set, is the bearer token the /_sim control endpoints require
	// from any client. When empty they answer loopback clients only.
	ControlToken string
	// Paths overrides operation paths (as a terminal's platform.operations does).
	Paths map[protocol.Op]string
	// Logger receives one line per request (operation, channel, requestId, msgCode; no
	// personal data). Nil: discard.
	Logger *slog.Logger
}

// Server is the sandbox platform. Its Handler serves the protocol and the control
// endpoints; Serve runs it on a listener with HTTP and HTTPS.
type Server struct {
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	routes map[string]protocol.Operation
	faults *faults
	nonces *nonceCache
	skew   atomic.Int64 // SetClockOffset, nanoseconds

	mu    sync.Mutex // guards state
	state *state
}

// New returns a sandbox.
func New(opts Options) (*Server, error) {
	if opts.PlatformKey == nil {
		return nil, errors.New("platformsim: PlatformKey is required")
	}
	if len(opts.Channels) == 0 {
		return nil, errors.New("platformsim: at least one channel is required")
	}
	for no, ch := range opts.Channels {
		if len(no) != 12 || strings.Trim(no, "0123456789") != "" {
			return nil, fmt.Errorf("platformsim: channel number %q is not 12 digits", no)
		}
		if ch.PublicKey == nil {
			return nil, fmt.Errorf("platformsim: channel %s has no public key", no)
		}
		if _, err := protocol.NewFieldCipher(ch.SM4Key, opts.SM4Mode, opts.SM4Encoding); err != nil {
			return nil, fmt.Errorf("platformsim: channel %s: %w", no, err)
		}
	}
	if opts.Window == 0 {
		opts.Window = 300 * time.Second
	}
	if opts.Registry == nil {
		opts.Registry = DefaultRegistry()
	}
	if opts.PasswordAbove == "" {
		opts.PasswordAbove = "1000.00"
	}
	threshold, err := parseYuan(opts.PasswordAbove)
	if err != nil {
		return nil, fmt.Errorf("platformsim: PasswordAbove: %w", err)
	}
	if opts.UserPaying == 0 {
		opts.UserPaying = 10 * time.Second
	}
	if opts.QRLifetime == 0 {
		opts.QRLifetime = 60 * time.Second
	}
	if opts.ReverseWindow == 0 {
		opts.ReverseWindow = 24 * time.Hour
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	s := &Server{opts: opts, now: opts.Now, log: opts.Logger, routes: map[string]protocol.Operation{},
		faults: newFaults(opts.Seed), nonces: newNonceCache(2 * opts.Window)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, op := range protocol.Operations() {
		p := op.Path
		if o, ok := opts.Paths[op.Op]; ok && o != "" {
			p = o
		}
		if _, dup := s.routes[p]; dup {
			return nil, fmt.Errorf("platformsim: two operations on path %s", p)
		}
		s.routes[p] = op
	}
	for i := range opts.Faults {
		if err := opts.Faults[i].Validate(); err != nil {
			return nil, err
		}
	}
	s.faults.add(opts.Faults...)
	s.state = newState(opts.Registry, threshold)
	return s, nil
}

// clock returns the sandbox time (Options.Now plus the offset set by SetClockOffset).
func (s *Server) clock() time.Time { return s.now().Add(time.Duration(s.skew.Load())) }

// SetClockOffset shifts the sandbox clock, e.g. to make a terminal's timestamps look
// stale.
func (s *Server) SetClockOffset(d time.Duration) { s.skew.Store(int64(d)) }

// AddFaults installs fault rules after the existing ones.
func (s *Server) AddFaults(fs ...Fault) error {
	for i := range fs {
		if err := fs[i].Validate(); err != nil {
			return err
		}
	}
	s.faults.add(fs...)
	return nil
}

// ClearFaults removes every fault rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// Faults returns the fault rules still installed and the count of faults fired.
func (s *Server) Faults() FaultState { return s.faults.state() }

// Handler serves the protocol on the operation paths and the control endpoints under
// /_sim/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for p, op := range s.routes {
		mux.HandleFunc("POST "+p, func(w http.ResponseWriter, r *http.Request) { s.serveOp(w, r, op) })
	}
	s.control(mux)
	return mux
}

// serveOp handles one request of an operation.
func (s *Server) serveOp(w http.ResponseWriter, r *http.Request, op protocol.Operation) {
	ctx := r.Context()
	fault, faulty := s.faults.pick(op.Op)
	if faulty {
		switch fault.Kind {
		case FaultLatency:
			if !backoff.Sleep(ctx, time.Duration(fault.Delay)) {
				return
			}
		case FaultHTTP:
			http.Error(w, http.StatusText(fault.Status), fault.Status)
			s.log.Info("fault", "op", op.Op, "kind", fault.Kind, "status", fault.Status)
			return
		case FaultDropBefore:
			s.log.Info("fault", "op", op.Op, "kind", fault.Kind)
			hangUp(w)
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, protocol.MaxMessage+1))
	if err != nil {
		return // the client went away
	}
	ex := s.exchange(op, body, fault, faulty)
	if faulty {
		switch fault.Kind {
		case FaultDropAfter:
			s.log.Info("fault", "op", op.Op, "kind", fault.Kind, "requestId", ex.requestID, "msgCode", ex.resp.MsgCode)
			hangUp(w)
			return
		case FaultDelayAfter:
			if !backoff.Sleep(ctx, time.Duration(fault.Delay)) {
				return
			}
		case FaultMalformed:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"msgCode":"000000","msg":"成功","result":`))
			return
		}
	}
	out, err := protocol.Marshal(ex.resp)
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(ex.status)
	_, _ = w.Write(out)
}

// exchange is one verified (or refused) request and its signed answer.
type exchange struct {
	status    int
	requestID string
	resp      *protocol.Response
}

// exchange verifies the request, runs the operation and builds the signed answer with
// any "after" fault applied to it.
func (s *Server) exchange(op protocol.Operation, body []byte, fault Fault, faulty bool) exchange {
	now := s.clock()
	ex := exchange{status: http.StatusOK}
	answer := func(code, msg string, result protocol.Data, ch *Channel) exchange {
		if msg == "" {
			if m, ok := protocol.LookupMsgCode(code); ok {
				msg = m.ZH
			}
		}
		if ch != nil && code == protocol.CodeOK {
			fc, _ := protocol.NewFieldCipher(ch.SM4Key, s.opts.SM4Mode, s.opts.SM4Encoding) // checked in New
			if err := result.EncryptFields(fc, protocol.Sensitive(op.Result)); err != nil {
				code, msg, result = protocol.CodeSystemError, "系统异常", protocol.Data{}
			}
		}
		resp := &protocol.Response{MsgCode: code, Msg: msg, Result: result.Encode(), RequestID: ex.requestID,
			Timestamp: protocol.FormatTime(now)}
		if faulty {
			switch fault.Kind {
			case FaultWrongRequestID:
				resp.RequestID = protocol.NewRequestID()
			case FaultStaleResponse:
				resp.Timestamp = protocol.FormatTime(now.Add(time.Duration(fault.Skew)))
			}
		}
		if err := s.opts.Scheme.SignResponse(s.opts.PlatformKey, resp); err != nil {
			ex.status = http.StatusInternalServerError
		}
		if faulty && fault.Kind == FaultBadSignature {
			resp.Signature = corrupt(resp.Signature)
		}
		ex.resp = resp
		s.log.Info("request", "op", op.Op, "requestId", ex.requestID, "msgCode", code)
		s.count(op.Op, code)
		return ex
	}
	if len(body) > protocol.MaxMessage {
		ex.status = http.StatusRequestEntityTooLarge
		return answer(protocol.CodeBadRequest, "报文过大", protocol.Data{}, nil)
	}
	req, fields, err := protocol.ParseRequest(body)
	if err != nil {
		ex.status = http.StatusBadRequest
		return answer(protocol.CodeBadRequest, "报文格式错误", protocol.Data{}, nil)
	}
	if protocol.IsRequestID(req.RequestID) {
		ex.requestID = req.RequestID
	}
	if err := req.CheckFields(); err != nil {
		ex.status = http.StatusBadRequest
		return answer(protocol.CodeBadRequest, "公共参数格式错误", protocol.Data{}, nil)
	}
	ch, ok := s.opts.Channels[req.ChannelNo]
	if !ok {
		return answer(protocol.CodeNoChannel, "", protocol.Data{}, nil)
	}
	if err := s.opts.Scheme.VerifyFields(ch.PublicKey, fields); err != nil {
		return answer(protocol.CodeBadSignature, "", protocol.Data{}, nil)
	}
	ts, _ := protocol.ParseTime(req.Timestamp) // CheckFields parsed it
	if d := ts.Sub(now); d > s.opts.Window || d < -s.opts.Window {
		return answer(protocol.CodeStaleTimestamp, "", protocol.Data{}, nil)
	}
	switch s.nonces.add(req.ChannelNo+"/"+req.RequestID, now) {
	case nonceReplay:
		return answer(protocol.CodeReplay, "", protocol.Data{}, nil)
	case nonceFull:
		return answer(protocol.CodeBusy, "", protocol.Data{}, nil)
	}
	if faulty && fault.Kind == FaultMsgCode {
		return answer(fault.MsgCode, "", protocol.Data{}, nil)
	}
	data, err := protocol.ParseData(req.Data)
	if err != nil {
		return answer(protocol.CodeBadRequest, "data 格式错误", protocol.Data{}, nil)
	}
	fc, _ := protocol.NewFieldCipher(ch.SM4Key, s.opts.SM4Mode, s.opts.SM4Encoding)
	if err := data.DecryptFields(fc, protocol.Sensitive(op.Data)); err != nil {
		return answer(protocol.CodeBadCiphertext, "", protocol.Data{}, nil)
	}
	if missing := missingFields(op.Data, data); missing != "" {
		return answer(protocol.CodeBadRequest, "缺少参数："+missing, protocol.Data{}, nil)
	}
	if data.Get("terminalId") == "" {
		return answer(protocol.CodeBadRequest, "缺少参数：terminalId", protocol.Data{}, nil)
	}
	recall := faulty && fault.Kind == FaultRecall
	result, code, msg := s.run(op.Op, req.ChannelNo, data, now, recall)
	return answer(code, msg, result, &ch)
}

func missingFields(fs []protocol.Field, d protocol.Data) string {
	var missing []string
	for _, f := range fs {
		if !f.Required {
			continue
		}
		if list, field, inList := strings.Cut(string(f.Path), "[]."); inList {
			for _, e := range d.Lists[list] {
				if e[field] == "" {
					missing = append(missing, string(f.Path))
					break
				}
			}
			continue
		}
		if d.Get(string(f.Path)) == "" && len(d.Lists[string(f.Path)]) == 0 {
			missing = append(missing, string(f.Path))
		}
	}
	return strings.Join(missing, ", ")
}

// corrupt changes a signature so it no longer verifies but still decodes.
func corrupt(sig string) string {
	if sig == "" {
		return "AA=="
	}
	b := []byte(sig)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	conn.Close()
}

// nonceCache remembers request ids for ttl (at least the timestamp window on both
// sides), keyed by channel and requestId. It holds at most maxNonces.
type nonceCache struct {
	mu   sync.Mutex // guards the fields below
	ttl  time.Duration
	seen map[string]time.Time
	adds int
}

const maxNonces = 1 << 20

type nonceResult int

const (
	nonceNew nonceResult = iota
	nonceReplay
	nonceFull
)

func newNonceCache(ttl time.Duration) *nonceCache {
	return &nonceCache{ttl: ttl, seen: map[string]time.Time{}}
}

func (n *nonceCache) add(key string, now time.Time) nonceResult {
	n.mu.Lock()
	defer n.mu.Unlock()
	if exp, ok := n.seen[key]; ok && now.Before(exp) {
		return nonceReplay
	}
	n.adds++
	if n.adds%1024 == 0 || len(n.seen) >= maxNonces {
		for k, exp := range n.seen {
			if !now.Before(exp) {
				delete(n.seen, k)
			}
		}
	}
	if len(n.seen) >= maxNonces {
		return nonceFull
	}
	n.seen[key] = now.Add(n.ttl)
	return nonceNew
}

package platformsim

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
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
	// Dialect is the platform's dialect (a compiled profile), which the terminals'
	// platform.profile must match. Nil: the built-in sscsim.
	Dialect *protocol.Dialect
	// Authorise, when set, restricts channels to services and terminals (900005,
	// 900006). Nil: every channel may call every operation from anywhere.
	Authorise *Authorisation
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
	if opts.Dialect == nil {
		opts.Dialect = protocol.MustDialect(protocol.ProfileSSCSim)
	}
	for no, ch := range opts.Channels {
		if len(no) != 12 || strings.Trim(no, "0123456789") != "" {
			return nil, fmt.Errorf("platformsim: channel number %q is not 12 digits", no)
		}
		if ch.PublicKey == nil {
			return nil, fmt.Errorf("platformsim: channel %s has no public key", no)
		}
		if _, err := opts.Dialect.NewCipher(ch.SM4Key); err != nil {
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
		p := opts.Dialect.Path(op.Op)
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
	ex := s.exchange(op, body, remoteIP(r.RemoteAddr), fault, faulty)
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
	out, err := s.opts.Dialect.MarshalResponse(ex.resp)
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
// any "after" fault applied to it. from is the client's IP address.
func (s *Server) exchange(op protocol.Operation, body []byte, from string, fault Fault, faulty bool) exchange {
	now := s.clock()
	d := s.opts.Dialect
	ex := exchange{status: http.StatusOK}
	app := "" // the verified request's applicationNo
	answer := func(code, msg string, result protocol.Data, ch *Channel) exchange {
		if msg == "" {
			if m, ok := protocol.LookupMsgCode(code); ok {
				msg = m.ZH
			}
		}
		wireCode := code
		if code == protocol.CodeOK {
			wireCode = d.SuccessCode()
		}
		if ch != nil && code == protocol.CodeOK {
			fc, _ := d.NewCipher(ch.SM4Key) // checked in New
			wire, err := d.ToWire(op.Op, protocol.SideResult, result, fc)
			if err != nil {
				code, wireCode, msg, wire = protocol.CodeSystemError, protocol.CodeSystemError, "系统异常", protocol.Data{}
			}
			result = wire
		}
		resp := &protocol.Response{MsgCode: wireCode, Msg: msg, Result: result.Encode(), RequestID: ex.requestID,
			Timestamp: d.FormatTime(now)}
		if faulty {
			switch fault.Kind {
			case FaultWrongRequestID:
				resp.RequestID = d.NewRequestID()
			case FaultStaleResponse:
				resp.Timestamp = d.FormatTime(now.Add(time.Duration(fault.Skew)))
			}
		}
		if err := d.SignResponse(s.opts.PlatformKey, resp); err != nil {
			ex.status = http.StatusInternalServerError
		}
		if faulty && fault.Kind == FaultBadSignature {
			resp.Signature = corrupt(resp.Signature)
		}
		ex.resp = resp
		s.log.Info("request", "op", op.Op, "requestId", ex.requestID, "msgCode", code)
		s.count(op.Op, code, app)
		return ex
	}
	if len(body) > protocol.MaxMessage {
		ex.status = http.StatusRequestEntityTooLarge
		return answer(protocol.CodeBadRequest, "报文过大", protocol.Data{}, nil)
	}
	req, fields, err := d.ParseRequest(body)
	if err != nil {
		ex.status = http.StatusBadRequest
		return answer(protocol.CodeBadRequest, "报文格式错误", protocol.Data{}, nil)
	}
	if d.IsRequestID(req.RequestID) {
		ex.requestID = req.RequestID
	}
	if err := d.CheckRequest(req); err != nil {
		ex.status = http.StatusBadRequest
		return answer(protocol.CodeBadRequest, "公共参数格式错误", protocol.Data{}, nil)
	}
	ch, ok := s.opts.Channels[req.ChannelNo]
	if !ok {
		return answer(protocol.CodeNoChannel, "", protocol.Data{}, nil)
	}
	if err := d.VerifyRequest(ch.PublicKey, fields); err != nil {
		return answer(protocol.CodeBadSignature, "", protocol.Data{}, nil)
	}
	app = req.ApplicationNo
	ts, _ := d.ParseTime(req.Timestamp) // CheckRequest parsed it
	if dt := ts.Sub(now); dt > s.opts.Window || dt < -s.opts.Window {
		return answer(protocol.CodeStaleTimestamp, "", protocol.Data{}, nil)
	}
	switch s.nonces.add(req.ChannelNo+"/"+req.RequestID, now) {
	case nonceReplay:
		return answer(protocol.CodeReplay, "", protocol.Data{}, nil)
	case nonceFull:
		return answer(protocol.CodeBusy, "", protocol.Data{}, nil)
	}
	if code, msg := s.opts.Authorise.check(req.ChannelNo, op.Op, "", from); code != "" {
		return answer(code, msg, protocol.Data{}, nil)
	}
	if faulty && fault.Kind == FaultMsgCode {
		return answer(fault.MsgCode, "", protocol.Data{}, nil)
	}
	wire, err := protocol.ParseData(req.Data)
	if err != nil {
		return answer(protocol.CodeBadRequest, "data 格式错误", protocol.Data{}, nil)
	}
	fc, _ := d.NewCipher(ch.SM4Key)
	data, unknown, err := d.FromWire(op.Op, protocol.SideData, wire, fc)
	if err != nil {
		if errors.Is(err, protocol.ErrDecrypt) {
			return answer(protocol.CodeBadCiphertext, "", protocol.Data{}, nil)
		}
		return answer(protocol.CodeBadRequest, "参数格式错误："+err.Error(), protocol.Data{}, nil)
	}
	// The sandbox is strict where a real platform may only ignore: a name it does not
	// know is refused, so a profile mapped wrongly shows at once.
	var bad []string
	if missing := s.missingFields(op, data); missing != "" {
		bad = append(bad, "缺少参数："+missing)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		bad = append(bad, "未知参数："+strings.Join(unknown, ", "))
	}
	if len(bad) > 0 {
		return answer(protocol.CodeBadRequest, strings.Join(bad, "；"), protocol.Data{}, nil)
	}
	if code, msg := s.opts.Authorise.check(req.ChannelNo, op.Op, data.Get("terminalId"), from); code != "" {
		return answer(code, msg, protocol.Data{}, nil)
	}
	recall := faulty && fault.Kind == FaultRecall
	result, code, msg := s.run(op.Op, req.ChannelNo, data, now, recall)
	return answer(code, msg, result, &ch)
}

// missingFields lists the required fields of op's data that data lacks, by their
// names on the wire.
func (s *Server) missingFields(op protocol.Operation, data protocol.Data) string {
	d := s.opts.Dialect
	var names []string
	for _, p := range missingFields(append(slices.Clone(op.Data), protocol.Field{Path: "terminalId", Required: true}), data) {
		names = append(names, d.WireName(op.Op, protocol.SideData, p))
	}
	return strings.Join(names, ", ")
}

func missingFields(fs []protocol.Field, d protocol.Data) []protocol.Path {
	var missing []protocol.Path
	for _, f := range fs {
		if !f.Required {
			continue
		}
		if list, field, inList := strings.Cut(string(f.Path), "[]."); inList {
			for _, e := range d.Lists[list] {
				if e[field] == "" {
					missing = append(missing, f.Path)
					break
				}
			}
			continue
		}
		if d.Get(string(f.Path)) == "" && len(d.Lists[string(f.Path)]) == 0 {
			missing = append(missing, f.Path)
		}
	}
	return missing
}

// remoteIP is the IP address of a request's RemoteAddr.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
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

// Dialect returns the dialect the sandbox speaks.
func (s *Server) Dialect() *protocol.Dialect { return s.opts.Dialect }

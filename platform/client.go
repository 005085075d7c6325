package platform

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Options are the client's collaborators. The zero value works for everything but
// TerminalID.
type Options struct {
	// TerminalID is sent as terminalId in every request's data (terminal.id). Required.
	TerminalID string
	// AllowTestKeys accepts the sandbox's published test keys (protocol.TestKey). Only a
	// test terminal (terminal.test) sets it; zero refuses them.
	AllowTestKeys bool
	// Logger receives one debug line per call (operation, requestId, class, msgCode,
	// duration; never personal data). Nil: discard.
	Logger *slog.Logger
	// Now is the wall clock used for timestamps and the clock offset. Nil: time.Now.
	Now func() time.Time
	// Observe, when set, is called after every attempt with the exact bytes exchanged.
	// "sscagent platform call --save-request" uses it; nothing else should.
	Observe func(Exchange)
}

// Exchange is one attempt as it went over the wire.
type Exchange struct {
	Op         protocol.Op
	URL        string
	RequestID  string
	Request    []byte // the exact request body sent
	HTTPStatus int    // 0: no HTTP answer
	Response   []byte // the body received (at most protocol.MaxMessage+1 bytes)
}

// Keys are the key material of one channel: its SM2 private key, the platform's SM2
// public key and the SM4 key for sensitive fields.
type Keys struct {
	Channel  *protocol.PrivateKey
	Platform *protocol.PublicKey
	SM4      []byte
}

// ErrTestKey is returned by New when a key is one of the sandbox's published test keys
// and the terminal is not a test terminal.
var ErrTestKey = errors.New("published sandbox test key refused: set terminal.test only on a test terminal")

// LoadKeys reads the key files named in cfg.
func LoadKeys(cfg Config) (Keys, error) {
	var k Keys
	b, err := cfg.PrivateKey.Read()
	if err != nil {
		return k, fmt.Errorf("platform.privateKey: %w", err)
	}
	if k.Channel, err = protocol.ParsePrivateKey(b); err != nil {
		return k, fmt.Errorf("platform.privateKey %s: %w", cfg.PrivateKey, err)
	}
	b, err = os.ReadFile(cfg.PlatformPublicKey)
	if err != nil {
		return k, fmt.Errorf("platform.platformPublicKey: %w", err)
	}
	if k.Platform, err = protocol.ParsePublicKey(b); err != nil {
		return k, fmt.Errorf("platform.platformPublicKey %s: %w", cfg.PlatformPublicKey, err)
	}
	if b, err = cfg.SM4Key.Read(); err != nil {
		return k, fmt.Errorf("platform.sm4Key: %w", err)
	}
	if k.SM4, err = protocol.ParseSM4Key(b); err != nil {
		return k, fmt.Errorf("platform.sm4Key %s: %w", cfg.SM4Key, err)
	}
	return k, nil
}

// Client calls the platform. It makes exactly one signed request per call and returns
// a classified outcome; it never retries on its own, except once after the platform
// refused a stale timestamp (the platform did nothing; the retry carries a new
// requestId). Retries, backoff and queues belong to the callers. A Client is safe for
// concurrent use.
type Client struct {
	cfg    Config
	opts   Options
	keys   Keys
	base   *url.URL
	http   *http.Client
	scheme protocol.Scheme
	cipher *protocol.FieldCipher
	routes map[protocol.Op]route
	codes  map[string]Class
	now    func() time.Time
	log    *slog.Logger
	ua     string

	mu    sync.Mutex // guards link and clock
	link  Link
	clock clockState
}

type route struct {
	op          protocol.Operation
	url         string
	serviceCode string
	data, res   []protocol.Path // sensitive fields
}

// New builds a client from a validated configuration, reading its key files.
func New(cfg Config, opts Options) (*Client, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	keys, err := LoadKeys(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithKeys(cfg, keys, opts)
}

func validate(cfg Config) error {
	var ps config.Problems
	cfg.Validate("platform", &ps)
	return ps.Err()
}

// NewWithKeys builds a client with key material already loaded (tests, tools).
func NewWithKeys(cfg Config, keys Keys, opts Options) (*Client, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	if opts.TerminalID == "" {
		return nil, errors.New("platform: Options.TerminalID is required")
	}
	if keys.Channel == nil || keys.Platform == nil || len(keys.SM4) == 0 {
		return nil, errors.New("platform: incomplete keys")
	}
	if !opts.AllowTestKeys {
		switch {
		case protocol.IsTestKey(keys.Channel.Public(), cfg.ChannelNo):
			return nil, fmt.Errorf("platform.privateKey: %w", ErrTestKey)
		case protocol.IsTestKey(keys.Platform, cfg.ChannelNo):
			return nil, fmt.Errorf("platform.platformPublicKey: %w", ErrTestKey)
		case protocol.IsTestSM4Key(keys.SM4, cfg.ChannelNo):
			return nil, fmt.Errorf("platform.sm4Key: %w", ErrTestKey)
		}
	}
	fc, err := protocol.NewFieldCipher(keys.SM4, cfg.SM4.Mode, cfg.SM4.Encoding)
	if err != nil {
		return nil, fmt.Errorf("platform.sm4: %w", err)
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/")) // validated
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg: cfg, opts: opts, keys: keys, base: base, cipher: fc,
		scheme: protocol.Scheme{SignerID: cfg.Signature.SignerID, Format: cfg.Signature.Format, Encoding: cfg.Signature.Encoding},
		routes: map[protocol.Op]route{},
		codes:  map[string]Class{},
		now:    opts.Now,
		log:    opts.Logger,
		ua:     "sscagent/" + version.Version,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, op := range protocol.Operations() {
		oc := cfg.Operations[string(op.Op)]
		path := op.Path
		if oc.Path != "" {
			path = oc.Path
		}
		c.routes[op.Op] = route{op: op, url: base.String() + path, serviceCode: oc.ServiceCode,
			data: protocol.Sensitive(op.Data), res: protocol.Sensitive(op.Result)}
	}
	for code, name := range cfg.MsgCodes {
		c.codes[code] = classNamesForConfig[name]
	}
	step := min(cfg.Timeout.D(), 10*time.Second)
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: step, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   step,
			MaxIdleConns:          8,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       60 * time.Second,
			DisableCompression:    true,
			ExpectContinueTimeout: 0,
		},
		// A redirect is not an answer: the outcome stays unknown.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("platform.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("platform.caFile %s: no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCert != "" {
		certPEM, err := os.ReadFile(cfg.ClientCert)
		if err != nil {
			return nil, fmt.Errorf("platform.clientCert: %w", err)
		}
		keyPEM, err := cfg.ClientKey.Read()
		if err != nil {
			return nil, fmt.Errorf("platform.clientKey: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("platform.clientCert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Reply is a verified answer with msgCode 000000.
type Reply struct {
	Op protocol.Op
	// RequestID is the requestId of the attempt that got the answer.
	RequestID string
	MsgCode   string
	Msg       string
	// Result is the decrypted result.
	Result protocol.Data
	// ServerTime is the response's signed timestamp.
	ServerTime time.Time
	// Attempts is 1, or 2 when a stale timestamp was corrected.
	Attempts int
}

// Call sends one operation with the given data and returns the verified, decrypted
// result. It adds terminalId (and the configured serviceCode), checks required
// parameters, encrypts the operation's sensitive fields, signs, sends, verifies the
// answer (signature, requestId echo, timestamp window) and classifies it. Every
// failure is an *Error; see Class.
func (c *Client) Call(ctx context.Context, op protocol.Op, data protocol.Data) (*Reply, error) {
	start := time.Now()
	reply, err := c.call(ctx, op, data)
	c.record(string(op), err)
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"op", op, "class", ClassOf(err), "duration", time.Since(start).Round(time.Millisecond)}
		var e *Error
		if reply != nil {
			attrs = append(attrs, "requestId", reply.RequestID, "attempts", reply.Attempts)
		} else if errors.As(err, &e) {
			attrs = append(attrs, "requestId", e.RequestID, "msgCode", e.MsgCode)
		}
		c.log.Debug("platform call", attrs...)
	}
	return reply, err
}

func (c *Client) call(ctx context.Context, op protocol.Op, data protocol.Data) (*Reply, error) {
	rt, text, err := c.prepare(op, data)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		reply, stale, err := c.attempt(ctx, rt, text)
		if err == nil {
			reply.Attempts = attempt
			return reply, nil
		}
		if !stale || attempt == 2 {
			return nil, err
		}
		// The platform refused our timestamp and did nothing; the offset was corrected
		// from its signed answer. Once more, with a new requestId.
	}
}

// prepare completes, checks and encrypts the data of one call and returns its text.
func (c *Client) prepare(op protocol.Op, data protocol.Data) (route, string, error) {
	rt, ok := c.routes[op]
	if !ok {
		return rt, "", &Error{Op: string(op), Class: ClassRejected, Err: fmt.Errorf("%w: unknown operation %q", ErrInvalidRequest, op)}
	}
	data = data.Clone()
	if data.Get("terminalId") == "" {
		data.Set("terminalId", c.opts.TerminalID)
	}
	if rt.serviceCode != "" {
		data.Set("serviceCode", rt.serviceCode)
	}
	if err := checkRequired(rt.op.Data, data); err != nil {
		return rt, "", &Error{Op: string(op), Class: ClassRejected, Err: fmt.Errorf("%w: %v", ErrInvalidRequest, err)}
	}
	if err := data.EncryptFields(c.cipher, rt.data); err != nil {
		return rt, "", &Error{Op: string(op), Class: ClassRejected, Err: err}
	}
	return rt, data.Encode(), nil
}

// ErrInvalidRequest is wrapped by the ClassRejected errors of requests the client
// refused to send (unknown operation, missing or malformed parameters).
var ErrInvalidRequest = errors.New("request not sent: invalid parameters")

func checkRequired(fs []protocol.Field, d protocol.Data) error {
	var missing []string
	for _, f := range fs {
		if !f.Required {
			continue
		}
		if list, field, inList := strings.Cut(string(f.Path), "[]."); inList {
			for i, e := range d.Lists[list] {
				if e[field] == "" {
					missing = append(missing, fmt.Sprintf("%s[%d].%s", list, i, field))
				}
			}
			continue
		}
		if d.Get(string(f.Path)) == "" && len(d.Lists[string(f.Path)]) == 0 {
			missing = append(missing, string(f.Path))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// attempt sends one signed request. stale reports a verified stale-timestamp refusal
// (the offset has been corrected; the caller may send once more).
func (c *Client) attempt(ctx context.Context, rt route, text string) (reply *Reply, stale bool, err error) {
	req, body, err := c.seal(text)
	if err != nil {
		return nil, false, &Error{Op: string(rt.op.Op), Class: ClassRejected, Err: err}
	}
	ex := Exchange{Op: rt.op.Op, URL: rt.url, RequestID: req.RequestID, Request: body}
	if c.opts.Observe != nil {
		defer func() { c.opts.Observe(ex) }()
	}
	ans, err := c.send(ctx, rt, body)
	ex.HTTPStatus, ex.Response = ans.status, ans.body
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op, e.RequestID = string(rt.op.Op), req.RequestID
		}
		return nil, false, err
	}
	return c.open(rt, req, ans)
}

// seal builds and signs the envelope of one attempt.
func (c *Client) seal(text string) (*protocol.Request, []byte, error) {
	req := &protocol.Request{
		RequestID:     protocol.NewRequestID(),
		Timestamp:     protocol.FormatTime(c.now().Add(c.offset())),
		ChannelNo:     c.cfg.ChannelNo,
		ApplicationNo: c.cfg.ApplicationNo,
		Data:          text,
	}
	if err := c.scheme.SignRequest(c.keys.Channel, req); err != nil {
		return nil, nil, err
	}
	body, err := protocol.Marshal(req)
	return req, body, err
}

// answer is what came back for one attempt.
type answer struct {
	status int
	body   []byte
	mid    time.Time     // the midpoint of the exchange on our clock
	rtt    time.Duration // the round trip
}

// send posts body and reads the answer. Its errors are *Error of class retryable
// (nothing was written) or unknown (written, no complete answer); Op and RequestID
// are filled by the caller.
func (c *Client) send(ctx context.Context, rt route, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	// wrote is set once the whole request was written to the connection. Before that
	// the platform cannot have a complete request, so it cannot have acted.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	hreq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, rt.url, bytes.NewReader(body))
	if err != nil {
		return answer{}, &Error{Class: ClassRejected, Err: err}
	}
	hreq.Header.Set("Content-Type", "application/json; charset=utf-8")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.ua)
	sent := c.now()
	mono := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		if !wrote.Load() {
			return answer{}, &Error{Class: ClassRetryable, Err: fmt.Errorf("not sent: %w", err)}
		}
		return answer{}, &Error{Class: ClassUnknown, Err: fmt.Errorf("sent, no answer: %w", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxMessage+1))
	ans := answer{status: resp.StatusCode, body: raw}
	if err != nil {
		return ans, &Error{Class: ClassUnknown, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("sent, answer cut off: %w", err)}
	}
	ans.rtt = time.Since(mono)
	ans.mid = sent.Add(ans.rtt / 2)
	return ans, nil
}

// open verifies and classifies the answer to req.
func (c *Client) open(rt route, req *protocol.Request, ans answer) (*Reply, bool, error) {
	op := string(rt.op.Op)
	fail := func(cl Class, err error) (*Reply, bool, error) {
		return nil, false, &Error{Op: op, Class: cl, RequestID: req.RequestID, Err: err}
	}
	ok2xx := ans.status >= 200 && ans.status < 300
	// Not a 2xx: unless the body is a signed envelope, this is a transport answer
	// (proxy, gateway, web server), and the platform's outcome is unknown.
	failCheck := func(err error) (*Reply, bool, error) {
		if !ok2xx {
			return nil, false, &Error{Op: op, Class: ClassUnknown, RequestID: req.RequestID, HTTPStatus: ans.status, Err: err}
		}
		return fail(ClassUnverified, err)
	}
	if len(ans.body) > protocol.MaxMessage {
		return failCheck(fmt.Errorf("%w: answer larger than %d bytes", ErrUnverified, protocol.MaxMessage))
	}
	env, fields, err := protocol.ParseResponse(ans.body)
	if err != nil {
		return failCheck(fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if !ok2xx && fields[protocol.SignatureField] == "" {
		return failCheck(fmt.Errorf("%w: HTTP %d without a signed envelope", ErrUnverified, ans.status))
	}
	if err := env.CheckFields(); err != nil {
		return fail(ClassUnverified, fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if err := c.scheme.VerifyFields(c.keys.Platform, fields); err != nil {
		return fail(ClassUnverified, fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if env.RequestID != req.RequestID {
		return fail(ClassUnverified, fmt.Errorf("%w: requestId %s does not echo ours", ErrUnverified, env.RequestID))
	}
	// Signed and echoing our fresh requestId: the answer is the platform's, made after
	// our request, so its time is authentic (to within the round trip).
	serverTime, _ := protocol.ParseTime(env.Timestamp) // CheckFields parsed it
	kind, class := c.classify(env.MsgCode)
	skew, adopted := c.observeClock(serverTime, ans.mid, ans.rtt)
	verr := &Error{Op: op, MsgCode: env.MsgCode, Msg: env.Msg, RequestID: req.RequestID}
	if kind == protocol.KindStaleTime {
		verr.Class = ClassRetryable
		verr.Err = ErrStaleTimestamp
		if !adopted {
			verr.Err = fmt.Errorf("%w: the platform's clock differs by %s, more than platform.maxClockOffset", ErrStaleTimestamp, skew.Round(time.Second))
		}
		return nil, adopted, verr
	}
	// The window: the response time, against our clock as corrected before this answer.
	if limit := c.cfg.TimestampWindow.D() + ans.rtt/2 + time.Second; skew > limit || skew < -limit {
		return fail(ClassUnverified, fmt.Errorf("%w: response timestamp %s is %s from our clock, outside ±%s",
			ErrUnverified, env.Timestamp, skew.Round(time.Second), c.cfg.TimestampWindow))
	}
	if class != ClassSuccess {
		verr.Class = class
		return nil, false, verr
	}
	result, err := protocol.ParseData(env.Result)
	if err == nil {
		err = result.DecryptFields(c.cipher, rt.res)
	}
	if err == nil {
		err = checkRequired(rt.op.Result, result)
	}
	if err != nil {
		return fail(ClassUnverified, fmt.Errorf("%w: result: %v", ErrUnverified, err))
	}
	return &Reply{Op: rt.op.Op, RequestID: req.RequestID, MsgCode: env.MsgCode, Msg: env.Msg, Result: result, ServerTime: serverTime}, false, nil
}

// Errors wrapped by classified errors.
var (
	// ErrUnverified: the answer failed a check (ClassUnverified, or ClassUnknown for a
	// non-2xx HTTP answer that is not a signed envelope).
	ErrUnverified = errors.New("answer not verified")
	// ErrStaleTimestamp: the platform refused the request's timestamp, also after the
	// clock correction (ClassRetryable).
	ErrStaleTimestamp = errors.New("request timestamp refused by the platform")
)

// classify maps a verified msgCode to its kind and class: the configured overrides
// first, then the built-in table; unknown codes are business rejections.
func (c *Client) classify(code string) (protocol.CodeKind, Class) {
	if code == protocol.CodeOK {
		return protocol.KindSuccess, ClassSuccess
	}
	if cl, ok := c.codes[code]; ok {
		return kindOf(cl), cl
	}
	m, ok := protocol.LookupMsgCode(code)
	if !ok {
		return protocol.KindRejected, ClassRejected
	}
	switch m.Kind {
	case protocol.KindRetryLater:
		return m.Kind, ClassRetryable
	case protocol.KindUnknown:
		return m.Kind, ClassUnknown
	case protocol.KindStaleTime:
		return m.Kind, ClassRetryable
	default:
		return m.Kind, ClassRejected
	}
}

func kindOf(cl Class) protocol.CodeKind {
	switch cl {
	case ClassRetryable:
		return protocol.KindRetryLater
	case ClassUnknown:
		return protocol.KindUnknown
	}
	return protocol.KindRejected
}

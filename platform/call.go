package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/platform/protocol"
)

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
	if c.opts.OnCall != nil {
		c.opts.OnCall(op, ClassOf(err), time.Since(start))
	}
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
	app := c.cfg.ApplicationNo
	if v, ok := ctx.Value(applicationNoKey{}).(string); ok {
		app = v
	}
	for attempt := 1; ; attempt++ {
		reply, stale, err := c.attempt(ctx, rt, app, text)
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

type applicationNoKey struct{}

// WithApplicationNo returns a context whose calls carry applicationNo (a table C.7
// code, or "" for none) in their envelope instead of platform.applicationNo: a
// scene's calls carry the scene's code.
func WithApplicationNo(ctx context.Context, applicationNo string) context.Context {
	return context.WithValue(ctx, applicationNoKey{}, applicationNo)
}

// prepare completes, checks and encrypts the data of one call and returns its wire
// text in the platform's dialect.
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
	wire, err := c.dialect.ToWire(op, protocol.SideData, data, c.cipher)
	if err != nil {
		return rt, "", &Error{Op: string(op), Class: ClassRejected, Err: fmt.Errorf("%w: %v", ErrInvalidRequest, err)}
	}
	return rt, wire.Encode(), nil
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
func (c *Client) attempt(ctx context.Context, rt route, app, text string) (reply *Reply, stale bool, err error) {
	req, body, err := c.seal(app, text)
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
func (c *Client) seal(app, text string) (*protocol.Request, []byte, error) {
	req := &protocol.Request{
		RequestID:     c.dialect.NewRequestID(),
		Timestamp:     c.dialect.FormatTime(c.now().Add(c.offset())),
		ChannelNo:     c.cfg.ChannelNo,
		ApplicationNo: app,
		Data:          text,
	}
	if err := c.dialect.SignRequest(c.keys.Channel, req); err != nil {
		return nil, nil, err
	}
	body, err := c.dialect.MarshalRequest(req)
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
	env, fields, err := c.dialect.ParseResponse(ans.body)
	if err != nil {
		return failCheck(fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if !ok2xx && env.Signature == "" {
		return failCheck(fmt.Errorf("%w: HTTP %d without a signed envelope", ErrUnverified, ans.status))
	}
	if err := c.dialect.CheckResponse(env); err != nil {
		return fail(ClassUnverified, fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if err := c.dialect.VerifyResponse(c.keys.Platform, fields); err != nil {
		return fail(ClassUnverified, fmt.Errorf("%w: %v", ErrUnverified, err))
	}
	if env.RequestID != req.RequestID {
		return fail(ClassUnverified, fmt.Errorf("%w: requestId %s does not echo ours", ErrUnverified, env.RequestID))
	}
	// Signed and echoing our fresh requestId: the answer is the platform's, made after
	// our request, so its time is authentic (to within the round trip).
	serverTime, _ := c.dialect.ParseTime(env.Timestamp) // CheckResponse parsed it
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
	var result protocol.Data
	var unknown []string
	wire, err := protocol.ParseData(env.Result)
	if err == nil {
		result, unknown, err = c.dialect.FromWire(rt.op.Op, protocol.SideResult, wire, c.cipher)
	}
	if err == nil {
		err = checkRequired(rt.op.Result, result)
	}
	if err != nil {
		if len(unknown) > 0 {
			slices.Sort(unknown)
			err = fmt.Errorf("%v (fields the profile does not map: %s)", err, strings.Join(unknown, ", "))
		}
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

// classify maps a verified msgCode to its kind and class: the profile's success code
// and overrides first, then the built-in table; unknown codes are business rejections.
func (c *Client) classify(code string) (protocol.CodeKind, Class) {
	kind, _ := c.dialect.Kind(code)
	switch kind {
	case protocol.KindSuccess:
		return kind, ClassSuccess
	case protocol.KindRetryLater, protocol.KindStaleTime:
		return kind, ClassRetryable
	case protocol.KindUnknown:
		return kind, ClassUnknown
	}
	return kind, ClassRejected
}

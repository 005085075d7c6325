package qrscan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/mask"
)

// Opener opens a connection to a scanner: a byte stream whose Close unblocks a pending
// Read. It is called again after every disconnect, so it should find the device anew
// (a replugged USB scanner may come back under another name).
type Opener interface {
	Open(ctx context.Context) (io.ReadCloser, error)
}

// OpenerFunc adapts a function to an Opener.
type OpenerFunc func(ctx context.Context) (io.ReadCloser, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context) (io.ReadCloser, error) { return f(ctx) }

// pauser is a connection with flow control (serial rtscts/xonxoff): hold asks the device
// to stop sending while the consumer's queue is full.
type pauser interface {
	Pause(hold bool) error
}

// Options are a Scanner's collaborators.
type Options struct {
	// Out receives the scans; required. Several scanners may share one channel. Give it
	// a buffer: a scan that finds it full is dropped (counted as busy) rather than
	// queued, since a queued e-card code would go stale, and with flow control the
	// device is asked to hold while it stays full.
	Out chan<- Scan
	// Logger receives connection changes and rate-limited summaries of bad input,
	// never the content of a code. Nil discards.
	Logger *slog.Logger
	// OnStatus is called on every connection change (from Run's goroutine).
	OnStatus func(Status)
	// OnReject is called for every frame that does not become a scan (from Run's
	// goroutine, possibly thousands of times a second under a flood: keep it cheap).
	OnReject func(Reject)
	// Opener overrides the device given by the configuration's kind (tests, the demo).
	Opener Opener
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReportEvery is the least time between two bad-input log lines. Default 1m.
	ReportEvery time.Duration
}

// Scanner reads codes from one device, frames, checks, de-duplicates, rate-limits and
// classifies them, and delivers them on Options.Out. It implements the agent's Part
// interface: Run blocks, reopening the device whenever it disappears, until ctx ends.
type Scanner struct {
	cfg        Config
	opener     Opener
	classifier *Classifier
	suffixByte byte
	prefix     []byte
	suffix     []byte
	out        chan<- Scan
	log        *slog.Logger
	onStatus   func(Status)
	onReject   func(Reject)
	now        func() time.Time
	every      time.Duration
	stats      counters
	running    atomic.Bool

	// Owned by Run's goroutine.
	dedup      *dedup
	limit      *limiter
	lastReport time.Time
	reported   [len(reasonNames)]uint64
}

// New builds a scanner from its configuration; it opens nothing until Run.
func New(c Config, o Options) (*Scanner, error) {
	var ps config.Problems
	c.Validate("scanner", &ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	if o.Out == nil {
		return nil, ErrNoOut
	}
	c = c.WithDefaults()
	cl, err := NewClassifier(c.Classify)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		cfg: c, opener: o.Opener, classifier: cl, out: o.Out, log: o.Logger,
		onStatus: o.OnStatus, onReject: o.OnReject, now: o.Now, every: o.ReportEvery,
		prefix: []byte(c.Framing.StripPrefix), suffix: []byte(c.Framing.StripSuffix),
		dedup: newDedup(c.Limits.DedupWindow.D()),
		limit: newLimiter(c.Limits.RatePerSecond, c.Limits.Burst),
	}
	if c.Framing.Terminator == TermSuffix {
		s.suffixByte, _ = c.Framing.suffix() // validated above
	}
	if s.opener == nil {
		if s.opener, err = openerFor(c); err != nil {
			return nil, err
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "qrscan", "scanner", c.Name, "kind", string(c.Kind))
	if s.now == nil {
		s.now = time.Now
	}
	if s.every <= 0 {
		s.every = time.Minute
	}
	return s, nil
}

// Name implements the agent's Part interface.
func (s *Scanner) Name() string { return "scanner/" + s.cfg.Name }

// Config returns the scanner's configuration with defaults applied.
func (s *Scanner) Config() Config { return s.cfg }

// Stats returns the scanner's counters; safe to call at any time.
func (s *Scanner) Stats() Stats { return s.stats.snapshot() }

// Reconnect pacing: the first reopen after a disconnect comes within 100 ms (a USB
// replug is back in about a second); an absent device is retried at most every 5 s.
var reconnectPolicy = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// Run opens the device and delivers scans until ctx is done (it then returns nil). A
// device that fails to open or disappears is reopened with backoff; only the end of a
// finite source returns early, with ErrEnded.
func (s *Scanner) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	bo := backoff.New(reconnectPolicy)
	for ctx.Err() == nil {
		conn, err := s.opener.Open(ctx)
		if err != nil {
			s.stats.openFailures.Add(1)
			s.stats.setErr(err)
			if bo.Failures() == 0 {
				s.log.Warn("scanner unavailable, retrying", "err", err)
				s.status(false, err)
			} else {
				s.log.Debug("scanner still unavailable", "err", err, "attempts", bo.Failures()+1)
			}
			backoff.Sleep(ctx, bo.Next())
			continue
		}
		s.stats.connects.Add(1)
		s.stats.connected.Store(true)
		s.log.Info("scanner connected", "failedAttempts", bo.Failures())
		s.status(true, nil)
		bo.Reset()
		err = s.serve(ctx, conn)
		s.stats.connected.Store(false)
		if ctx.Err() != nil {
			s.status(false, nil)
			return nil
		}
		s.stats.disconnects.Add(1)
		s.stats.setErr(err)
		s.status(false, err)
		if errors.Is(err, ErrEnded) {
			return err
		}
		s.log.Warn("scanner disconnected, reopening", "err", err)
		backoff.Sleep(ctx, bo.Next())
	}
	return nil
}

func (s *Scanner) status(up bool, err error) {
	if s.onStatus != nil {
		s.onStatus(Status{Scanner: s.cfg.Name, Connected: up, Err: err, Time: s.now()})
	}
}

// readSize is the size of one read; two buffers of it are in flight per connection.
const readSize = 4096

// chunk is one read handed from the reading goroutine to Run's goroutine.
type chunk struct {
	b   []byte
	err error
}

// session is one open connection: its framer and flow-control state.
type session struct {
	s      *Scanner
	fr     *Framer
	pause  pauser
	paused bool
	emit   FrameFunc
}

// serve reads conn until it fails or ctx ends. Reads happen on a goroutine of their own
// (a serial Read ignores ctx); serve owns it, stops it by closing conn, and waits for it.
func (s *Scanner) serve(ctx context.Context, conn io.ReadCloser) error {
	ss := &session{s: s, fr: NewFramer(s.cfg.Framing.Terminator, s.suffixByte, s.cfg.Framing.MaxLine)}
	ss.emit = ss.frame
	ss.pause, _ = conn.(pauser)

	free := make(chan []byte, 2)
	free <- make([]byte, readSize)
	free <- make([]byte, readSize)
	chunks := make(chan chunk, 2)
	stop := make(chan struct{})
	done := make(chan struct{})
	go readLoop(conn, free, chunks, stop, done)
	defer func() {
		close(stop)
		conn.Close()
		<-done
	}()

	gap := s.cfg.Framing.IdleGap.D()
	idle := time.NewTimer(gap)
	idle.Stop()
	defer idle.Stop()
	var resume *time.Ticker
	var resumeC <-chan time.Time
	defer func() {
		if resume != nil {
			resume.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-chunks:
			if len(c.b) > 0 {
				s.stats.bytes.Add(uint64(len(c.b)))
				ss.fr.Feed(c.b, ss.emit)
			}
			free <- c.b[:cap(c.b)] // never blocks: only two buffers exist
			if c.err != nil {
				ss.fr.Idle(ss.emit) // the stream ended: an idle-framed code is complete, a partial line is stale
				return c.err
			}
			if ss.fr.Pending() {
				idle.Reset(gap)
			} else {
				idle.Stop()
			}
		case <-idle.C:
			ss.fr.Idle(ss.emit)
		case <-resumeC:
			ss.flow()
		}
		if ss.paused && resume == nil {
			resume = time.NewTicker(50 * time.Millisecond)
			resumeC = resume.C
		} else if !ss.paused && resume != nil {
			resume.Stop()
			resume, resumeC = nil, nil
		}
	}
}

// maxEmptyReads bounds consecutive zero-byte reads without error before the connection
// is treated as broken (a misbehaving driver would otherwise spin a core).
const maxEmptyReads = 100

// readLoop reads into free buffers and hands them over until a read fails or stop closes.
func readLoop(conn io.Reader, free chan []byte, chunks chan<- chunk, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	empty := 0
	for {
		var b []byte
		select {
		case b = <-free:
		case <-stop:
			return
		}
		n, err := conn.Read(b)
		if n == 0 && err == nil {
			if empty++; empty < maxEmptyReads {
				free <- b
				continue
			}
			err = io.ErrNoProgress
		}
		empty = 0
		select {
		case chunks <- chunk{b[:n], err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// frame checks one frame and delivers it as a scan.
func (ss *session) frame(data []byte, st FrameStatus) {
	s := ss.s
	now := s.now()
	s.stats.frames.Add(1)
	switch st {
	case FrameOverlong:
		s.reject(ReasonOverlong, 0, now)
		return
	case FrameStale:
		s.reject(ReasonStale, len(data), now)
		return
	}
	code := bytes.TrimPrefix(data, s.prefix)
	code = bytes.TrimSuffix(code, s.suffix)
	if len(code) == 0 {
		s.stats.empty.Add(1)
		return
	}
	if len(code) > s.cfg.Limits.MaxCodeLength {
		s.reject(ReasonTooLong, len(code), now)
		return
	}
	if r := checkText(code); r != 0 {
		s.reject(r, len(code), now)
		return
	}
	if s.dedup.seen(code, now) {
		s.reject(ReasonDuplicate, len(code), now)
		return
	}
	if !s.limit.allow(now) {
		s.reject(ReasonRateLimited, len(code), now)
		return
	}
	scan := Scan{
		Code:   mask.Of(mask.KindSecret, string(code)),
		Class:  s.classifier.Classify(code),
		Source: s.cfg.Name,
		Time:   now,
	}
	// Count before sending, so a consumer that has the scan also sees it counted.
	s.stats.scans.Add(1)
	select {
	case s.out <- scan:
		if s.log.Enabled(context.Background(), slog.LevelDebug) { // spare the flood path the argument boxing
			s.log.Debug("scan", "code", scan.Code, "class", string(scan.Class))
		}
	default:
		s.stats.scans.Add(^uint64(0)) // not delivered after all
		s.reject(ReasonBusy, len(code), now)
	}
	ss.flow()
}

// flow asks the device to hold while the consumer's queue is full, and to resume once it
// has room again (connections without flow control ignore this).
func (ss *session) flow() {
	if ss.pause == nil || cap(ss.s.out) == 0 {
		return
	}
	full := len(ss.s.out) >= cap(ss.s.out)
	if full == ss.paused {
		return
	}
	if err := ss.pause.Pause(full); err != nil {
		ss.s.log.Debug("flow control failed", "err", err)
		return
	}
	ss.paused = full
}

// checkText returns ReasonBinary for NUL and other control characters (C0 and DEL),
// ReasonInvalidUTF8 for malformed UTF-8, and 0 for acceptable text.
func checkText(code []byte) Reason {
	ascii := true
	for _, b := range code {
		if b < 0x20 || b == 0x7f {
			return ReasonBinary
		}
		if b >= 0x80 {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(code) {
		return ReasonInvalidUTF8
	}
	return 0
}

// reject counts a frame that did not become a scan, reports it, and logs a summary of
// bad input at most once per ReportEvery (counts only, never content).
func (s *Scanner) reject(r Reason, n int, now time.Time) {
	s.stats.reasons[r].Add(1)
	if s.onReject != nil {
		s.onReject(Reject{Scanner: s.cfg.Name, Reason: r, Length: n, Time: now})
	}
	if !r.BadInput() || now.Sub(s.lastReport) < s.every {
		return
	}
	s.lastReport = now
	attrs := make([]any, 0, 2*int(ReasonStale))
	for x := ReasonOverlong; x <= ReasonStale; x++ {
		v := s.stats.reasons[x].Load()
		if d := v - s.reported[x]; d > 0 {
			attrs = append(attrs, x.String(), d)
		}
		s.reported[x] = v
	}
	// Counts since the previous report; the next comes after ReportEvery at the earliest.
	s.log.Warn("scanner sent unusable input", attrs...)
}

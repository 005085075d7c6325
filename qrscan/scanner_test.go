package qrscan_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/labtest"
	"github.com/sscagent/sscagent/qrscan"
	"github.com/sscagent/sscagent/qrscan/hid"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// wait bounds every wait for an event; tests fail instead of hanging.
const wait = 10 * time.Second

// clock is a settable clock for the rate limiter and de-duplication window.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness runs one scanner and exposes its scans and status changes.
type harness struct {
	t      *testing.T
	s      *qrscan.Scanner
	out    chan qrscan.Scan
	status chan qrscan.Status
	reject chan qrscan.Reject // rejections, when the test did not set OnReject
	done   chan error
	cancel context.CancelFunc
}

// start runs a scanner built from c (and o, whose Out and OnStatus it sets) until the
// test ends, and waits for its first connection.
func start(t *testing.T, c qrscan.Config, o qrscan.Options) *harness {
	t.Helper()
	h := &harness{t: t, out: make(chan qrscan.Scan, 64), status: make(chan qrscan.Status, 64),
		reject: make(chan qrscan.Reject, 1024), done: make(chan error, 1)}
	if o.Out == nil {
		o.Out = h.out
	}
	if o.OnReject == nil {
		o.OnReject = func(r qrscan.Reject) {
			select {
			case h.reject <- r:
			default: // the test does not care about this many
			}
		}
	}
	o.OnStatus = func(s qrscan.Status) { h.status <- s }
	s, err := qrscan.New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-h.done:
			if err != nil && !errors.Is(err, qrscan.ErrEnded) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	h.waitStatus(true)
	return h
}

// await receives from ch until match accepts a value, failing after wait.
func await[T any](h *harness, ch <-chan T, what string, match func(T) bool) T {
	h.t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case v := <-ch:
			if match(v) {
				return v
			}
		case <-timeout:
			h.t.Fatalf("no %s within %s; stats %+v", what, wait, h.s.Stats())
		}
	}
}

// waitStatus waits for a status change to connected (up) or disconnected.
func (h *harness) waitStatus(up bool) qrscan.Status {
	h.t.Helper()
	return await(h, h.status, fmt.Sprintf("status connected=%v", up), func(s qrscan.Status) bool { return s.Connected == up })
}

// next returns the next scan.
func (h *harness) next() qrscan.Scan {
	h.t.Helper()
	select {
	case s := <-h.out:
		return s
	case <-time.After(wait):
		h.t.Fatalf("no scan within %s; stats %+v", wait, h.s.Stats())
		return qrscan.Scan{}
	}
}

// waitReject waits for a rejection for reason r.
func (h *harness) waitReject(r qrscan.Reason) {
	h.t.Helper()
	await(h, h.reject, r.String()+" rejection", func(got qrscan.Reject) bool { return got.Reason == r })
}

// expect reads scans and checks their codes in order.
func (h *harness) expect(codes ...string) {
	h.t.Helper()
	for _, want := range codes {
		if got := h.next().Code.Clear(); got != want {
			h.t.Fatalf("scan %q, want %q", got, want)
		}
	}
}

func serialConfig(port string) qrscan.Config {
	return qrscan.Config{Name: "test", Kind: qrscan.KindSerial, Serial: serial.Config{Port: port}}
}

// TestSerialTerminators sends codes through a real pty pair in every terminator mode,
// each code also split across two writes.
func TestSerialTerminators(t *testing.T) {
	cases := []struct {
		framing qrscan.Framing
		send    func(p *labtest.Pair, code string)
	}{
		{qrscan.Framing{Terminator: qrscan.TermAny}, func(p *labtest.Pair, c string) { p.Write([]byte(c + "\r\n")) }},
		{qrscan.Framing{Terminator: qrscan.TermCR}, func(p *labtest.Pair, c string) { p.Write([]byte(c + "\r")) }},
		{qrscan.Framing{Terminator: qrscan.TermLF}, func(p *labtest.Pair, c string) { p.Write([]byte(c + "\n")) }},
		{qrscan.Framing{Terminator: qrscan.TermCRLF}, func(p *labtest.Pair, c string) { p.Write([]byte(c + "\r\n")) }},
		{qrscan.Framing{Terminator: qrscan.TermSuffix, SuffixByte: "03", StripPrefix: "\x02"},
			func(p *labtest.Pair, c string) { p.Write([]byte("\x02" + c + "\x03")) }},
		{qrscan.Framing{Terminator: qrscan.TermIdle, IdleGap: config.Duration(50 * time.Millisecond)},
			func(p *labtest.Pair, c string) { p.Write([]byte(c)) }},
	}
	for _, tc := range cases {
		t.Run(string(tc.framing.Terminator), func(t *testing.T) {
			p := labtest.NewPair(t)
			c := serialConfig(p.Agent)
			c.Framing = tc.framing
			h := start(t, c, qrscan.Options{})
			code := "ESSC-" + strings.ToUpper(string(tc.framing.Terminator)) + "-0123456789ABCDEF"
			tc.send(p, code)
			s := h.next()
			if s.Code.Clear() != code || s.Source != "test" || s.Class != qrscan.ClassESSC {
				t.Fatalf("scan %q from %q class %s, want %q from test class essc", s.Code.Clear(), s.Source, s.Class, code)
			}
			// The same code again is a duplicate; a second code split across writes
			// (for idle framing, within the gap) arrives whole.
			tc.send(p, code)
			h.waitReject(qrscan.ReasonDuplicate)
			code2 := code + "-2"
			f := p.Open()
			defer f.Close()
			wire := []byte(nil)
			switch tc.framing.Terminator {
			case qrscan.TermCR:
				wire = []byte(code2 + "\r")
			case qrscan.TermLF:
				wire = []byte(code2 + "\n")
			case qrscan.TermSuffix:
				wire = []byte("\x02" + code2 + "\x03")
			case qrscan.TermIdle:
				wire = []byte(code2)
			default:
				wire = []byte(code2 + "\r\n")
			}
			half := len(wire) - 1 // for CRLF this splits CR from LF
			if _, err := f.Write(wire[:half]); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(wire[half:]); err != nil {
				t.Fatal(err)
			}
			h.expect(code2)
			if st := h.s.Stats(); st.Duplicates != 1 || st.Scans != 2 {
				t.Fatalf("stats %+v, want 1 duplicate and 2 scans", st)
			}
		})
	}
}

// TestSerialReplug closes the pty pair (the scanner is unplugged), recreates it on the
// same links and checks that the scanner reconnects and reads again.
func TestSerialReplug(t *testing.T) {
	p := labtest.NewPair(t)
	h := start(t, serialConfig(p.Agent), qrscan.Options{})
	p.Write([]byte("BEFORE-REPLUG-0001\r\n"))
	h.expect("BEFORE-REPLUG-0001")

	p.Stop()
	down := h.waitStatus(false)
	if !errors.Is(down.Err, serial.ErrClosed) {
		t.Fatalf("disconnect error %v, want serial.ErrClosed", down.Err)
	}
	p.Start()
	h.waitStatus(true)
	p.Write([]byte("AFTER-REPLUG-0002\r\n"))
	h.expect("AFTER-REPLUG-0002")

	st := h.s.Stats()
	if st.Connects < 2 || st.Disconnects < 1 || !st.Connected {
		t.Fatalf("stats %+v, want 2 connects, 1 disconnect, connected", st)
	}
}

// TestSerialHostileInput sends a 1 MB line, NUL bytes, invalid UTF-8, a control byte and
// random binary noise, then a good code: the good code arrives, the rest is counted, the
// scanner stays connected, and no rejected content reaches the log.
func TestSerialHostileInput(t *testing.T) {
	p := labtest.NewPair(t)
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := serialConfig(p.Agent)
	c.Limits.RatePerSecond = 1000
	c.Limits.Burst = 1000
	h := start(t, c, qrscan.Options{Logger: log, ReportEvery: time.Nanosecond})

	noise := make([]byte, 64<<10)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	f := p.Open()
	defer f.Close()
	for _, b := range [][]byte{
		bytes.Repeat([]byte("M"), 1<<20), []byte("\r\n"), // a 1 MB line
		[]byte("SECRET-NUL\x00CODE\r\n"),
		[]byte("SECRET-BAD-\xff\xfe-UTF8\r\n"),
		[]byte("SECRET-ESC\x1b[2J\r\n"),
		noise, []byte("\r\n"),
		[]byte("GOOD-CODE-AFTER-NOISE-01\r\n"),
	} {
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Noise can itself contain CR/LF and printable runs that pass as scans; skip those.
	for {
		if s := h.next(); s.Code.Clear() == "GOOD-CODE-AFTER-NOISE-01" {
			break
		}
	}
	st := h.s.Stats()
	if st.Overlong < 1 || st.Binary < 2 || st.InvalidUTF8 < 1 || !st.Connected {
		t.Fatalf("stats %+v, want overlong >= 1, binary >= 2, invalidUTF8 >= 1, connected", st)
	}
	checkAccounting(t, st)
	if strings.Contains(logBuf.String(), "SECRET") || strings.Contains(logBuf.String(), "GOOD-CODE") {
		t.Fatalf("log shows scanned content:\n%s", logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "unusable input") {
		t.Fatalf("bad input was not reported in the log:\n%s", logBuf.String())
	}
}

// TestSerialFlood writes 20 000 distinct codes as fast as the pty takes them (more than
// 10 000 lines a second): the rate limit lets the burst through, counts the rest, and the
// scanner keeps working.
func TestSerialFlood(t *testing.T) {
	p := labtest.NewPair(t)
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c := serialConfig(p.Agent)
	c.Limits.RatePerSecond = 5
	c.Limits.Burst = 10
	const lines = 20000
	var limited atomic.Int64
	flooded := make(chan struct{})
	h := start(t, c, qrscan.Options{Now: clk.Now, OnReject: func(r qrscan.Reject) {
		if r.Reason == qrscan.ReasonRateLimited && limited.Add(1) == lines-10 {
			close(flooded)
		}
	}})

	var flood bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&flood, "FLOOD-CODE-%08d\r\n", i)
	}
	f := p.Open()
	defer f.Close()
	if _, err := f.Write(flood.Bytes()); err != nil {
		t.Fatal(err)
	}
	select { // every flood line is processed before the clock moves
	case <-flooded:
	case <-time.After(wait):
		t.Fatalf("flood not processed within %s: stats %+v", wait, h.s.Stats())
	}
	clk.Add(time.Hour) // the limiter refills: the next code must pass
	if _, err := f.Write([]byte("AFTER-FLOOD-CODE-0001\r\n")); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for {
		s := h.next()
		if s.Code.Clear() == "AFTER-FLOOD-CODE-0001" {
			break
		}
		delivered++
	}
	st := h.s.Stats()
	if delivered != 10 || st.RateLimited != lines-10 || st.Frames != lines+1 {
		t.Fatalf("delivered %d before the last code, stats %+v; want 10 delivered, %d rate limited", delivered, st, lines-10)
	}
	checkAccounting(t, st)
}

// TestXonXoffFlowControl fills a one-slot queue: the scanner sends XOFF to the device,
// and XON once the queue is drained.
func TestXonXoffFlowControl(t *testing.T) {
	p := labtest.NewPair(t)
	f := p.Open()
	defer f.Close()
	c := serialConfig(p.Agent)
	c.Serial.FlowControl = serial.FlowXonXoff
	out := make(chan qrscan.Scan, 1)
	h := start(t, c, qrscan.Options{Out: out})
	readByte := func() byte {
		t.Helper()
		if err := f.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(f, b); err != nil {
			t.Fatalf("reading flow control byte: %v", err)
		}
		return b[0]
	}
	if b := readByte(); b != serial.XON {
		t.Fatalf("on open got %#x, want XON", b)
	}
	if _, err := f.Write([]byte("FLOW-CODE-000000001\r\n")); err != nil {
		t.Fatal(err)
	}
	if b := readByte(); b != serial.XOFF {
		t.Fatalf("with the queue full got %#x, want XOFF", b)
	}
	if s := <-out; s.Code.Clear() != "FLOW-CODE-000000001" {
		t.Fatalf("scan %q", s.Code.Clear())
	}
	if b := readByte(); b != serial.XON {
		t.Fatalf("after draining got %#x, want XON", b)
	}
	_ = h
}

// TestFiniteSourceEnds runs a scanner on a pipe, as on standard input: an idle-framed
// last code is completed by the end of input, and Run returns ErrEnded.
func TestFiniteSourceEnds(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := qrscan.Config{Name: "pipe", Kind: qrscan.KindStdin}
	c.Framing.Terminator = qrscan.TermIdle
	c.Framing.IdleGap = config.Duration(time.Minute) // only the end of input ends the code
	opened := false
	h := start(t, c, qrscan.Options{Opener: qrscan.OpenerFunc(func(context.Context) (io.ReadCloser, error) {
		if opened {
			return nil, errors.New("opened twice")
		}
		opened = true
		return qrscan.EndAtEOF(r), nil
	})})
	if _, err := w.Write([]byte("PIPE-CODE-AT-END-001")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	h.expect("PIPE-CODE-AT-END-001")
	select {
	case err := <-h.done:
		if !errors.Is(err, qrscan.ErrEnded) {
			t.Fatalf("Run returned %v, want ErrEnded", err)
		}
		h.done <- err // for the cleanup
	case <-time.After(wait):
		t.Fatal("Run did not return at the end of input")
	}
}

// TestScanNeverPrintsCode checks every way a Scan can be printed.
func TestScanNeverPrintsCode(t *testing.T) {
	p := labtest.NewPair(t)
	h := start(t, serialConfig(p.Agent), qrscan.Options{})
	const code = "TOP-SECRET-ESSC-CODE-123456"
	p.Write([]byte(code + "\n"))
	s := h.next()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%v %+v %#v %s %q", s, s, s, s.Code, s.Code)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("scan", "scan", s, "code", s.Code)
	if strings.Contains(b.String(), "SECRET") {
		t.Fatalf("code printed in clear: %s", b.String())
	}
	if !strings.Contains(b.String(), fmt.Sprintf("len=%d", len(code))) {
		t.Fatalf("masked form missing: %s", b.String())
	}
}

// checkAccounting checks that every frame is counted exactly once.
func checkAccounting(t *testing.T, st qrscan.Stats) {
	t.Helper()
	sum := st.Scans + st.Empty + st.BadInput() + st.Duplicates + st.RateLimited + st.Busy
	if sum != st.Frames {
		t.Fatalf("frames %d but outcomes add up to %d: %+v", st.Frames, sum, st)
	}
}

// syncBuffer is a bytes.Buffer safe for the scanner's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHIDWedgePipeline runs a keyboard-wedge device (fed recorded key events through a
// pipe, since this kernel has no uinput) through a scanner: Enter ends each code, and a
// code typed with an unknown key is rejected as binary instead of forwarded changed.
func TestHIDWedgePipeline(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("hid scanners are Linux only")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c := qrscan.Config{Name: "wedge", Kind: qrscan.KindHID, HID: hid.Config{Device: "/dev/input/event0"}}
	h := start(t, c, qrscan.Options{Opener: qrscan.OpenerFunc(func(context.Context) (io.ReadCloser, error) {
		return hid.NewDevice(r, "recorded"), nil
	})})
	// Key codes (US layout): Q=16 R=19 E=18 S=31 C=46 1..9 = 2..10, 0 = 11, '-' = 12,
	// Enter = 28, left shift = 42, F1 = 59.
	var b []byte
	key := func(code uint16) {
		b = hid.AppendEvent(b, hid.Event{Type: hid.EvKey, Code: code, Value: hid.KeyPress})
		b = hid.AppendEvent(b, hid.Event{Type: hid.EvKey, Code: code, Value: hid.KeyRelease})
		b = hid.AppendEvent(b, hid.Event{Type: hid.EvSyn})
	}
	upper := func(code uint16) {
		b = hid.AppendEvent(b, hid.Event{Type: hid.EvKey, Code: 42, Value: hid.KeyPress})
		key(code)
		b = hid.AppendEvent(b, hid.Event{Type: hid.EvKey, Code: 42, Value: hid.KeyRelease})
	}
	for _, u := range []uint16{18, 31, 31, 46} { // ESSC
		upper(u)
	}
	key(12) // -
	for _, d := range []uint16{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 2, 3} {
		key(d)
	}
	key(28)
	upper(16)
	key(59) // F1: unknown to the layout
	upper(19)
	key(28)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	h.expect("ESSC-123456789012")
	h.waitReject(qrscan.ReasonBinary)
	if st := h.s.Stats(); st.Scans != 1 || st.Binary != 1 {
		t.Fatalf("stats %+v, want 1 scan and 1 binary", st)
	}
}

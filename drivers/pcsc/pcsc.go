//go:build cgo || windows

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/sscagent/sscagent/drivers"
)

// pnpReader is the PC/SC pseudo-reader whose state changes when a reader is attached or
// removed.
const pnpReader = `\\?PnP?\Notification`

// Options configures Open. The zero value is what production uses.
type Options struct {
	// RelistEvery is how often the reader list is read again when the subsystem does
	// not offer the PnP notification reader (old pcsc-lite). Default 2s. With PnP (any
	// current pcsc-lite, Windows) there is no timer: Watch blocks in the subsystem.
	RelistEvery time.Duration
}

// Open establishes a PC/SC context (pcscd through libpcsclite, or winscard) and returns
// it as a drivers.System. It fails with drivers.ErrNoService while the service is down.
func Open(o Options) (drivers.System, error) {
	if o.RelistEvery <= 0 {
		o.RelistEvery = 2 * time.Second
	}
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr("establish context", "", err)
	}
	return &system{o: o, ctx: c, locks: map[string]chan struct{}{}, closing: make(chan struct{})}, nil
}

type system struct {
	o   Options
	ctx *scard.Context // the watch context: Watch blocks on it, Close cancels it

	watchMu sync.Mutex          // held by Watch (one at a time); guards states and pnp
	states  []scard.ReaderState // last reported, the PnP reader first when pnp
	pnp     bool

	closing chan struct{} // closed by Close

	mu     sync.Mutex // guards the fields below
	closed bool
	locks  map[string]chan struct{} // per-reader exchange lock, shared by connections
}

// interruptible runs a blocking PC/SC call and interrupts it with SCardCancel from the
// stopping side when ctx ends or the System is closed. SCardCancel only affects a call
// already waiting in the daemon, so a Cancel that came too early is repeated every
// 20 ms until the call returns; the repetition happens only while stopping.
func (s *system) interruptible(ctx context.Context, call func() error) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		case <-s.closing:
		}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			_ = s.ctx.Cancel()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := call()
	close(done)
	return err
}

var _ drivers.System = (*system)(nil)

func (s *system) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Watch implements drivers.System.
func (s *system) Watch(ctx context.Context) ([]drivers.ReaderState, error) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.isClosed() {
		return nil, fmt.Errorf("pcsc: watch: %w", drivers.ErrClosed)
	}
	if s.states == nil {
		if err := s.relist(); err != nil {
			return nil, err
		}
		return s.report(), nil
	}
	for {
		timeout := time.Duration(-1) // infinite: the PnP reader wakes us
		if !s.pnp {
			timeout = s.o.RelistEvery
		}
		err := s.interruptible(ctx, func() error { return s.ctx.GetStatusChange(s.states, timeout) })
		switch {
		case err == nil:
		case errors.Is(err, scard.ErrCancelled):
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if s.isClosed() {
				return nil, fmt.Errorf("pcsc: watch: %w", drivers.ErrClosed)
			}
			continue
		case errors.Is(err, scard.ErrTimeout):
			if err := s.relist(); err != nil {
				return nil, err
			}
			if s.changed() {
				return s.report(), nil
			}
			continue
		case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
			// A reader went away between listing and waiting.
			if err := s.relist(); err != nil {
				return nil, err
			}
			return s.report(), nil
		default:
			// Whatever else the daemon says (seen while pcscd shuts down: "access
			// denied"), this context is no longer usable: reconnect.
			if e := mapErr("watch", "", err); errors.Is(e, drivers.ErrNoService) {
				return nil, e
			}
			return nil, fmt.Errorf("pcsc: watch: %w (%v)", drivers.ErrNoService, err)
		}
		pnpChanged := s.pnp && s.states[0].EventState&scard.StateChanged != 0
		readerGone := false
		for _, st := range s.states {
			if st.EventState&(scard.StateUnknown|scard.StateIgnore) != 0 && st.Reader != pnpReader {
				readerGone = true
			}
		}
		if pnpChanged || readerGone {
			if err := s.relist(); err != nil {
				return nil, err
			}
			return s.report(), nil
		}
		if s.changed() {
			return s.report(), nil
		}
	}
}

// changed reports whether a reader's state changed in the last GetStatusChange and
// arms the states for the next wait.
func (s *system) changed() bool {
	changed := false
	for i := range s.states {
		if s.states[i].EventState&scard.StateChanged != 0 {
			changed = true
		}
		s.states[i].CurrentState = s.states[i].EventState &^ scard.StateChanged
	}
	return changed
}

// relist reads the reader list and the current state of every reader; watchMu is held.
func (s *system) relist() error {
	// A reader can vanish between listing and asking for its state: list again.
	for try := 0; ; try++ {
		err := s.relistOnce()
		if err == nil || !errors.Is(err, drivers.ErrNoReader) || try == 3 {
			return err
		}
	}
}

func (s *system) relistOnce() error {
	names, err := s.ctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		names, err = nil, nil
	}
	if err != nil {
		return mapErr("list readers", "", err)
	}
	states := make([]scard.ReaderState, 0, len(names)+1)
	states = append(states, scard.ReaderState{Reader: pnpReader, CurrentState: scard.StateUnaware})
	for _, n := range names {
		states = append(states, scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware})
	}
	// One immediate call fills in every state (and tells whether PnP is supported).
	if err := s.ctx.GetStatusChange(states, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return mapErr("reader states", "", err)
	}
	s.pnp = states[0].EventState&scard.StateUnknown == 0
	if !s.pnp {
		states = states[1:]
	}
	for i := range states {
		states[i].CurrentState = states[i].EventState &^ scard.StateChanged
	}
	s.states = states
	return nil
}

// report converts the states to drivers.ReaderState, without the PnP reader.
func (s *system) report() []drivers.ReaderState {
	out := make([]drivers.ReaderState, 0, len(s.states))
	for _, st := range s.states {
		if st.Reader == pnpReader {
			continue
		}
		ev := st.EventState
		rs := drivers.ReaderState{
			Name:       st.Reader,
			Present:    ev&scard.StatePresent != 0 && ev&scard.StateMute == 0,
			Mute:       ev&scard.StateMute != 0,
			Exclusive:  ev&scard.StateExclusive != 0,
			Insertions: uint16(uint32(ev) >> 16),
		}
		if ev&scard.StatePresent != 0 {
			rs.ATR = slices.Clone(st.Atr)
		}
		out = append(out, rs)
	}
	return out
}

// Connect implements drivers.System. Each connection has its own PC/SC context, so a
// blocked Watch never delays a card exchange. A shared connection holds a PC/SC
// transaction while open: other programs may connect but wait for it to end.
func (s *system) Connect(ctx context.Context, reader string, exclusive bool) (drivers.Card, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("pcsc: connect: %w", drivers.ErrClosed)
	}
	lock, ok := s.locks[reader]
	if !ok {
		lock = make(chan struct{}, 1)
		s.locks[reader] = lock
	}
	s.mu.Unlock()

	// SCardConnect and SCardBeginTransaction wait while another program holds a
	// transaction on the card, and cannot be cancelled: they run in a goroutine of
	// their own, the wait ends with ctx, and a connection made after that is
	// released as soon as it is made.
	type result struct {
		c   *card
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := connect(reader, exclusive)
		if c != nil {
			c.lock = lock
		}
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				_ = r.c.Close(false)
			}
		}()
		return nil, fmt.Errorf("pcsc: connect %s: %w", reader, ctx.Err())
	}
}

// connect makes a connection with a PC/SC context of its own.
func connect(reader string, exclusive bool) (*card, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr("connect", reader, err)
	}
	mode := scard.ShareShared
	if exclusive {
		mode = scard.ShareExclusive
	}
	h, err := c.Connect(reader, mode, scard.ProtocolAny)
	if err != nil {
		_ = c.Release()
		return nil, mapErr("connect", reader, err)
	}
	if !exclusive {
		if err := h.BeginTransaction(); err != nil {
			_ = h.Disconnect(scard.LeaveCard)
			_ = c.Release()
			return nil, mapErr("begin transaction", reader, err)
		}
	}
	st, err := h.Status()
	if err != nil {
		if !exclusive {
			_ = h.EndTransaction(scard.LeaveCard)
		}
		_ = h.Disconnect(scard.LeaveCard)
		_ = c.Release()
		return nil, mapErr("status", reader, err)
	}
	return &card{ctx: c, h: h, reader: reader, atr: slices.Clone(st.Atr), tx: !exclusive}, nil
}

// Close implements drivers.System.
func (s *system) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing) // a blocked Watch is cancelled and returns
	s.mu.Unlock()
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if err := s.ctx.Release(); err != nil && !errors.Is(err, scard.ErrNoService) && !errors.Is(err, scard.ErrInvalidHandle) {
		return mapErr("release", "", err)
	}
	return nil
}

type card struct {
	ctx    *scard.Context
	h      *scard.Card
	reader string
	atr    []byte
	lock   chan struct{} // the reader's exchange lock
	tx     bool          // a transaction is held

	wg     sync.WaitGroup // exchanges in flight
	mu     sync.Mutex     // guards the fields below
	closed bool
	broken bool // an exchange failed: the card may be gone, so Close does not reset it
}

var _ drivers.Card = (*card)(nil)

func (c *card) ATR() []byte { return c.atr }

// Transmit implements drivers.Card. SCardTransmit cannot be interrupted, so it runs in
// a goroutine of its own; when ctx ends first the caller gets ctx's error at once, and
// the exchange finishes (holding the reader's lock) before Close releases the handle.
func (c *card) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("pcsc: transmit %s: %w", c.reader, drivers.ErrClosed)
	}
	c.wg.Add(1)
	c.mu.Unlock()
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		c.wg.Done()
		return nil, ctx.Err()
	}
	type result struct {
		rsp []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.lock }()
		rsp, err := c.h.Transmit(cmd)
		done <- result{rsp, err}
	}()
	select {
	case r := <-done:
		if r.err == nil && len(r.rsp) < 2 {
			// A reader never answers "success, no bytes" for a card that is there;
			// vpcd does when the card left mid-command.
			r.err = fmt.Errorf("pcsc: transmit %s: %w (empty response)", c.reader, drivers.ErrCardRemoved)
		} else if r.err != nil {
			r.err = mapErr("transmit", c.reader, r.err)
		}
		if r.err != nil {
			c.mu.Lock()
			c.broken = true
			c.mu.Unlock()
			return nil, r.err
		}
		return r.rsp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close implements drivers.Card.
func (c *card) Close(reset bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	broken := c.broken
	c.mu.Unlock()
	c.wg.Wait()
	d := scard.LeaveCard
	if reset && !broken {
		// Resetting a card that left mid-command wedges some drivers (vpcd).
		d = scard.ResetCard
	}
	var err error
	if c.tx {
		_ = c.h.EndTransaction(d) // fails harmlessly when the card is gone
	}
	if derr := c.h.Disconnect(d); derr != nil && !gone(derr) {
		err = mapErr("disconnect", c.reader, derr)
	}
	if rerr := c.ctx.Release(); rerr != nil && err == nil && !gone(rerr) {
		err = mapErr("release", c.reader, rerr)
	}
	return err
}

// gone reports errors that only say the card, reader or service is already gone.
func gone(err error) bool {
	for _, e := range []error{scard.ErrRemovedCard, scard.ErrNoSmartcard, scard.ErrNoService, scard.ErrInvalidHandle,
		scard.ErrReaderUnavailable, scard.ErrUnknownReader, scard.ErrServiceStopped, scard.ErrResetCard} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// mapErr wraps a PC/SC error around the drivers sentinel it means; the PC/SC text stays
// in the message, its type does not escape.
func mapErr(op, reader string, err error) error {
	where := "pcsc: " + op
	if reader != "" {
		where += " " + reader
	}
	var sentinel error
	switch {
	case errors.Is(err, scard.ErrNoService), errors.Is(err, scard.ErrServiceStopped), errors.Is(err, scard.ErrInvalidHandle),
		errors.Is(err, scard.ErrCommError): // "RPC transport error": the daemon went away
		sentinel = drivers.ErrNoService
	case errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable), errors.Is(err, scard.ErrNoReadersAvailable):
		sentinel = drivers.ErrNoReader
	case errors.Is(err, scard.ErrNoSmartcard):
		sentinel = drivers.ErrNoCard
	case errors.Is(err, scard.ErrRemovedCard), errors.Is(err, scard.ErrNotTransacted):
		sentinel = drivers.ErrCardRemoved
	case errors.Is(err, scard.ErrResetCard):
		sentinel = drivers.ErrCardReset
	case errors.Is(err, scard.ErrUnresponsiveCard), errors.Is(err, scard.ErrUnpoweredCard), errors.Is(err, scard.ErrUnsupportedCard):
		sentinel = drivers.ErrCardMute
	case errors.Is(err, scard.ErrSharingViolation):
		sentinel = drivers.ErrReaderBusy
	case errors.Is(err, scard.ErrCancelled):
		return fmt.Errorf("%s: %w", where, context.Canceled)
	default:
		return fmt.Errorf("%s: %v", where, err)
	}
	return fmt.Errorf("%s: %w (%v)", where, sentinel, err)
}

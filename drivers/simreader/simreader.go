// Package simreader is an in-process reader subsystem: virtual readers holding virtual
// cards (any ICC, such as the sandbox's card/cardsim cards and PSAMs), with the same
// behaviour as PC/SC behind the drivers.System contract: Watch blocks until something
// changes, a card pulled out mid-command fails the command with drivers.ErrCardRemoved,
// exchanges are serialised per reader, and the whole service can be stopped and started
// to exercise recovery (drivers.ErrNoService).
//
// It lets the demo run on a machine without pcscd, and unit tests drive the card path
// without a daemon. The integration tests use the real thing: pcscd with vpcd.
package simreader

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/sscagent/sscagent/drivers"
)

// ICC is a card that can be inserted: it answers reset and command APDUs. An error from
// Process means the card left mid-command (it is removed from its reader).
type ICC interface {
	Reset() []byte
	PowerOff()
	Process(command []byte) ([]byte, error)
}

// Hub is the virtual world: readers, the cards in them and whether the service runs.
// Open connects to it as a drivers.System. The zero value is not usable; call New.
type Hub struct {
	mu      sync.Mutex // guards the fields below
	readers []*reader
	gen     uint64        // bumped on every change
	changed chan struct{} // closed and replaced on every change
	epoch   uint64        // service generation: bumped when the service stops
	down    bool
}

type reader struct {
	name       string
	icc        ICC
	atr        []byte
	insertions uint16
	card       uint64        // card generation: bumped on insert and remove
	exclusive  bool          // a connection holds the card exclusively
	lock       chan struct{} // one exchange at a time
}

// New returns a hub with the named readers, empty and running.
func New(readers ...string) *Hub {
	h := &Hub{changed: make(chan struct{})}
	for _, n := range readers {
		h.AddReader(n)
	}
	return h
}

func (h *Hub) notifyLocked() {
	h.gen++
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *Hub) find(name string) *reader {
	for _, r := range h.readers {
		if r.name == name {
			return r
		}
	}
	return nil
}

// AddReader attaches a reader (hot-plug); a name already attached is ignored.
func (h *Hub) AddReader(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.find(name) != nil {
		return
	}
	h.readers = append(h.readers, &reader{name: name, lock: make(chan struct{}, 1)})
	h.notifyLocked()
}

// RemoveReader detaches a reader and the card in it.
func (h *Hub) RemoveReader(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.find(name); r != nil {
		r.card++
		h.readers = slices.DeleteFunc(h.readers, func(x *reader) bool { return x == r })
		h.notifyLocked()
	}
}

// Insert puts icc into a reader (powering it up); a card already there is removed first.
func (h *Hub) Insert(name string, icc ICC) error {
	atr := icc.Reset()
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.find(name)
	if r == nil {
		return fmt.Errorf("simreader: insert into %q: %w", name, drivers.ErrNoReader)
	}
	r.icc, r.atr, r.exclusive = icc, atr, false
	r.insertions++
	r.card++
	h.notifyLocked()
	return nil
}

// Remove takes the card out of a reader; an empty or unknown reader is left alone.
func (h *Hub) Remove(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.find(name); r != nil && r.icc != nil {
		h.removeLocked(r)
	}
}

func (h *Hub) removeLocked(r *reader) {
	r.icc.PowerOff()
	r.icc, r.atr, r.exclusive = nil, nil, false
	r.card++
	h.notifyLocked()
}

// SetService stops (false) or starts (true) the service. While stopped, Open and every
// call of an open System fail with drivers.ErrNoService; a System opened before the stop
// keeps failing after the restart, as a PC/SC context does.
func (h *Hub) SetService(up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down == !up {
		return
	}
	h.down = !up
	if h.down {
		h.epoch++
	}
	h.notifyLocked()
}

// Open connects to the hub.
func (h *Hub) Open() (drivers.System, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		return nil, fmt.Errorf("simreader: open: %w", drivers.ErrNoService)
	}
	return &system{h: h, epoch: h.epoch, closed: make(chan struct{})}, nil
}

type system struct {
	h     *Hub
	epoch uint64

	mu       sync.Mutex // guards the fields below
	seen     uint64
	watched  bool
	isClosed bool
	closed   chan struct{}
}

var _ drivers.System = (*system)(nil)

// liveLocked reports the System's usability; h.mu is held.
func (s *system) liveLocked(op string) error {
	s.mu.Lock()
	closed := s.isClosed
	s.mu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("simreader: %s: %w", op, drivers.ErrClosed)
	case s.h.down || s.h.epoch != s.epoch:
		return fmt.Errorf("simreader: %s: %w", op, drivers.ErrNoService)
	}
	return nil
}

func (s *system) Watch(ctx context.Context) ([]drivers.ReaderState, error) {
	for {
		s.h.mu.Lock()
		if err := s.liveLocked("watch"); err != nil {
			s.h.mu.Unlock()
			return nil, err
		}
		s.mu.Lock()
		fresh := !s.watched || s.seen != s.h.gen
		s.mu.Unlock()
		if fresh {
			out := make([]drivers.ReaderState, 0, len(s.h.readers))
			for _, r := range s.h.readers {
				out = append(out, drivers.ReaderState{Name: r.name, Present: r.icc != nil, Exclusive: r.exclusive,
					ATR: bytes.Clone(r.atr), Insertions: r.insertions})
			}
			s.mu.Lock()
			s.seen, s.watched = s.h.gen, true
			s.mu.Unlock()
			s.h.mu.Unlock()
			return out, nil
		}
		changed := s.h.changed
		s.h.mu.Unlock()
		select {
		case <-changed:
		case <-s.closed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *system) Connect(ctx context.Context, name string, exclusive bool) (drivers.Card, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if err := s.liveLocked("connect"); err != nil {
		return nil, err
	}
	r := s.h.find(name)
	switch {
	case r == nil:
		return nil, fmt.Errorf("simreader: connect %q: %w", name, drivers.ErrNoReader)
	case r.icc == nil:
		return nil, fmt.Errorf("simreader: connect %q: %w", name, drivers.ErrNoCard)
	case r.exclusive:
		return nil, fmt.Errorf("simreader: connect %q: %w", name, drivers.ErrReaderBusy)
	}
	r.exclusive = exclusive
	return &simCard{s: s, r: r, gen: r.card, atr: bytes.Clone(r.atr), exclusive: exclusive}, nil
}

func (s *system) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isClosed {
		s.isClosed = true
		close(s.closed)
	}
	return nil
}

type simCard struct {
	s         *system
	r         *reader
	gen       uint64
	atr       []byte
	exclusive bool

	mu     sync.Mutex // guards closed
	closed bool
}

var _ drivers.Card = (*simCard)(nil)

func (c *simCard) ATR() []byte { return c.atr }

// check returns the card's ICC if the connection still stands; h.mu is held.
func (c *simCard) checkLocked(op string) (ICC, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("simreader: %s: %w", op, drivers.ErrClosed)
	}
	if err := c.s.liveLocked(op); err != nil {
		return nil, err
	}
	if c.r.card != c.gen || c.r.icc == nil || c.s.h.find(c.r.name) == nil {
		return nil, fmt.Errorf("simreader: %s %q: %w", op, c.r.name, drivers.ErrCardRemoved)
	}
	return c.r.icc, nil
}

func (c *simCard) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	select {
	case c.r.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.r.lock }()
	c.s.h.mu.Lock()
	icc, err := c.checkLocked("transmit")
	c.s.h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	resp, perr := icc.Process(cmd)
	if perr != nil {
		c.s.h.mu.Lock()
		if c.r.card == c.gen && c.r.icc != nil {
			c.s.h.removeLocked(c.r)
		}
		c.s.h.mu.Unlock()
		return nil, fmt.Errorf("simreader: transmit %q: %w", c.r.name, drivers.ErrCardRemoved)
	}
	return resp, nil
}

func (c *simCard) Close(reset bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.r.lock <- struct{}{} // wait for an exchange in progress
	defer func() { <-c.r.lock }()
	c.s.h.mu.Lock()
	defer c.s.h.mu.Unlock()
	if c.r.card != c.gen || c.r.icc == nil {
		return nil // the card is gone; nothing to release
	}
	if c.exclusive {
		c.r.exclusive = false
	}
	if reset {
		c.r.atr = c.r.icc.Reset()
	}
	return nil
}

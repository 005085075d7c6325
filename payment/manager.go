package payment

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm3"
	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/internal/boltstore"
	"github.com/sscagent/sscagent/internal/mask"
	"github.com/sscagent/sscagent/platform"
)

// SchemaVersion is the layout of the payment file:
//
//	meta/                       internal/boltstore: schema, created, seq.order, recovery
//	orders/  seq -> JSON        every order (stored: Order + seq + SM3 of its code)
//	open/    seq -> ""          the orders not final yet, resumed at start
//	codes/   SM3(code) -> seq   every code ever submitted (kept as long as its order)
//	idem/    key -> seq         idempotency keys of the requests that created orders
const SchemaVersion = 1

var (
	bOrders = []byte("orders")
	bOpen   = []byte("open")
	bCodes  = []byte("codes")
	bIdem   = []byte("idem")
)

const (
	reasonCancelled   = "cancelled by the cashier before a code was submitted"
	reasonInterrupted = "the agent stopped before a code was submitted; nothing was charged"
	maxCodeLen        = 512
)

// Options configure a Manager.
type Options struct {
	// Terminal is the terminal id that prefixes order numbers. Required to Create.
	Terminal string
	// Gateway is the platform's payment service. Required to Run.
	Gateway Gateway
	// Config holds the timings.
	Config Config
	// ReadOnly opens an existing file for operator commands.
	ReadOnly bool
	// Logger receives the state machine's logs; nil discards them.
	Logger *slog.Logger
	// OnChange is called after each persisted change of an order (the agent publishes a
	// payment.* event with its prompt). It must not block.
	OnChange func(Order)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Request asks for a new order.
type Request struct {
	// Amount in fen (分), 1 to 100000000.
	Amount int64
	// Subject is what is paid for: 1-128 characters.
	Subject string
	// Scene names the payment scene (optional).
	Scene string
	// IdempotencyKey makes a retried request return the same order (optional, <= 64).
	IdempotencyKey string
}

// Manager runs the payment state machine over a bbolt file. It is safe for concurrent
// use and implements agent.Part (Name, Run).
type Manager struct {
	db  *boltstore.DB
	o   Options
	c   Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex // guards the fields below
	runCtx  context.Context
	drivers map[uint64]*driver
	mine    map[uint64]bool // orders created by this process
	changed chan struct{}   // closed and replaced on every change
	wg      sync.WaitGroup  // drivers
}

// driver drives one open order; wake interrupts its waits (a cancel).
type driver struct {
	wake chan struct{}
}

// Open opens or creates the payment file at path.
func Open(path string, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Config == (Config{}) {
		o.Config = DefaultConfig()
	}
	db, err := boltstore.Open(path, boltstore.Options{
		Schema:      boltstore.Schema{Version: SchemaVersion, Init: initSchema},
		LockTimeout: o.Config.LockTimeout.D(),
		ReadOnly:    o.ReadOnly,
		Logger:      o.Logger,
		Now:         o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("payment: %w", err)
	}
	return &Manager{db: db, o: o, c: o.Config, log: o.Logger, now: o.Now,
		drivers: map[uint64]*driver{}, mine: map[uint64]bool{}, changed: make(chan struct{})}, nil
}

func initSchema(tx *bolt.Tx) error {
	for _, b := range [][]byte{bOrders, bOpen, bCodes, bIdem} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// Name implements agent.Part.
func (m *Manager) Name() string { return "payment" }

// Close closes the file. Call it after Run has returned.
func (m *Manager) Close() error { return m.db.Close() }

// Recoveries reports corrupt payment files moved aside (see internal/boltstore).
func (m *Manager) Recoveries() []boltstore.Recovery { return m.db.Recoveries() }

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// parseNo returns the counter value inside an order number.
func parseNo(no string) (uint64, bool) {
	i := strings.LastIndexByte(no, '-')
	if i < 0 || len(no)-i-1 < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(no[i+1:], 10, 64)
	return n, err == nil && n > 0
}

func load(tx *bolt.Tx, seq uint64) (*stored, error) {
	v := tx.Bucket(bOrders).Get(seqKey(seq))
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeStored(v)
}

func (m *Manager) save(tx *bolt.Tx, s *stored) error {
	b, err := encodeStored(s)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bOrders).Put(seqKey(s.Seq), b); err != nil {
		return err
	}
	if s.State.Final() {
		return tx.Bucket(bOpen).Delete(seqKey(s.Seq))
	}
	return tx.Bucket(bOpen).Put(seqKey(s.Seq), nil)
}

// Create makes a new order in state CREATED, durable on return. A request with an
// IdempotencyKey seen before returns that order (ErrConflict if it differs).
func (m *Manager) Create(ctx context.Context, r Request) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	if err := validRequest(r); err != nil {
		return Order{}, err
	}
	if m.o.Terminal == "" {
		return Order{}, fmt.Errorf("%w: no terminal id", ErrInvalid)
	}
	var out *stored
	created := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		created = false
		if r.IdempotencyKey != "" {
			if v := tx.Bucket(bIdem).Get([]byte(r.IdempotencyKey)); len(v) == 8 {
				s, err := load(tx, binary.BigEndian.Uint64(v))
				if err != nil {
					return boltstore.NoWrite(err)
				}
				if s.Amount != r.Amount || s.Subject != r.Subject || s.Scene != r.Scene {
					return boltstore.NoWrite(ErrConflict)
				}
				out = s
				return nil
			}
		}
		seq, err := m.db.Next(tx, "order")
		if err != nil {
			return err
		}
		s := &stored{Seq: seq, Order: Order{No: boltstore.FormatID(m.o.Terminal, seq), Amount: r.Amount,
			Subject: r.Subject, Scene: r.Scene, State: Created, Created: m.now(), IdempotencyKey: r.IdempotencyKey}}
		if err := m.save(tx, s); err != nil {
			return err
		}
		if r.IdempotencyKey != "" {
			if err := tx.Bucket(bIdem).Put([]byte(r.IdempotencyKey), seqKey(seq)); err != nil {
				return err
			}
		}
		out, created = s, true
		return nil
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: create: %w", err)
	}
	if created {
		m.mu.Lock()
		m.mine[out.Seq] = true
		m.mu.Unlock()
		m.notify(out)
	}
	return out.Order, nil
}

func validRequest(r Request) error {
	var bad []string
	if r.Amount < 1 || r.Amount > 100_000_000 {
		bad = append(bad, "amount must be 1 to 100000000 fen")
	}
	if n := utf8.RuneCountInString(r.Subject); n == 0 || n > 128 || !utf8.ValidString(r.Subject) ||
		strings.IndexFunc(r.Subject, unicode.IsControl) >= 0 {
		bad = append(bad, "subject must be 1-128 characters without control characters")
	}
	if len(r.Scene) > 64 {
		bad = append(bad, "scene must be at most 64 bytes")
	}
	if len(r.IdempotencyKey) > 64 {
		bad = append(bad, "idempotency key must be at most 64 bytes")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, "; "))
	}
	return nil
}

// Pay submits the holder's e-card payment code for a CREATED order. It writes the code's
// SM3 hash and state SENT durably, starts the state machine and returns the SENT order;
// follow it with Wait or OnChange. A code submitted before, for any order, is refused
// with ErrCodeUsed and the order keeps waiting for another code.
func (m *Manager) Pay(ctx context.Context, orderNo, code string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	if code == "" || len(code) > maxCodeLen {
		return Order{}, fmt.Errorf("%w: code must be 1-%d bytes", ErrInvalid, maxCodeLen)
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	m.mu.Lock()
	running := m.runCtx != nil
	m.mu.Unlock()
	if !running {
		return Order{}, ErrNotRunning
	}
	h := sm3.Sum([]byte(code))
	var out *stored
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		switch {
		case s.State.Final():
			return boltstore.NoWrite(ErrFinal)
		case s.State != Created:
			return boltstore.NoWrite(ErrState)
		}
		codes := tx.Bucket(bCodes)
		if codes.Get(h[:]) != nil {
			return boltstore.NoWrite(ErrCodeUsed)
		}
		if err := codes.Put(h[:], seqKey(seq)); err != nil {
			return err
		}
		s.State, s.Sent, s.CodeHash = Sent, m.now(), h[:]
		out = s
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: pay %s: %w", orderNo, err)
	}
	m.notify(out)
	m.start(out.Seq, code)
	return out.Order, nil
}

// start launches the driver of an order unless one runs or the manager is stopping.
func (m *Manager) start(seq uint64, code string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runCtx == nil || m.drivers[seq] != nil {
		return // stopping: the order is resumed at the next start
	}
	d := &driver{wake: make(chan struct{}, 1)}
	m.drivers[seq] = d
	m.wg.Add(1)
	go m.drive(m.runCtx, seq, code, d)
}

// Get returns an order by number.
func (m *Manager) Get(orderNo string) (Order, error) {
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out Order
	err := m.db.View(func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil {
			return err
		}
		if s.No != orderNo {
			return ErrNotFound
		}
		out = s.Order
		return nil
	})
	return out, err
}

// Wait blocks until the order is final or ctx is done, and returns the order as it is
// then (with ctx's error in the second case).
func (m *Manager) Wait(ctx context.Context, orderNo string) (Order, error) {
	for {
		m.mu.Lock()
		ch := m.changed
		m.mu.Unlock()
		o, err := m.Get(orderNo)
		if err != nil || o.State.Final() {
			return o, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return o, ctx.Err()
		}
	}
}

// Cancel is the cashier's cancel: a CREATED order fails at once; an order whose outcome
// is open is queried once more and then reversed. A final order gives ErrFinal.
func (m *Manager) Cancel(ctx context.Context, orderNo string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out *stored
	var final bool
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		out, final = s, s.State.Final()
		switch {
		case final, s.CancelRequested:
			return nil
		case s.State == Created:
			m.end(s, Failed, reasonCancelled)
		default:
			s.CancelRequested = true
		}
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: cancel %s: %w", orderNo, err)
	}
	if final {
		return out.Order, fmt.Errorf("payment: cancel %s: %w (%s)", orderNo, ErrFinal, out.State)
	}
	m.notify(out)
	m.mu.Lock()
	if d := m.drivers[seq]; d != nil {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	m.mu.Unlock()
	return out.Order, nil
}

// maxNote bounds a settlement note, in characters.
const maxNote = 200

// Settle records a person's resolution of a NEEDS_MANUAL order, found by checking with
// the platform (对账): paid (the holder was charged and not refunded) or not, and a note
// (required, masked, at most 200 characters). The order stays NEEDS_MANUAL with its
// Settled set; it no longer counts as waiting for a person. Settling again the same way
// returns the order; the other way is ErrState, as is an order in another state.
func (m *Manager) Settle(ctx context.Context, orderNo string, paid bool, note string) (Order, error) {
	if m.o.ReadOnly {
		return Order{}, ErrReadOnly
	}
	note = strings.TrimSpace(note)
	if note == "" || utf8.RuneCountInString(note) > maxNote || !utf8.ValidString(note) {
		return Order{}, fmt.Errorf("%w: a note of 1-%d characters is required (what the platform said)", ErrInvalid, maxNote)
	}
	seq, ok := parseNo(orderNo)
	if !ok {
		return Order{}, ErrNotFound
	}
	var out *stored
	changed := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		out, changed = s, false
		switch {
		case s.State != NeedsManual:
			return boltstore.NoWrite(fmt.Errorf("%w: only a NEEDS_MANUAL order is settled; this one is %s", ErrState, s.State))
		case s.Settled != nil && s.Settled.Paid == paid:
			return nil
		case s.Settled != nil:
			return boltstore.NoWrite(fmt.Errorf("%w: already settled as paid=%v on %s", ErrState, s.Settled.Paid, s.Settled.At.Format(time.DateTime)))
		}
		s.Settled = &Settlement{Paid: paid, Note: mask.Text(note), At: m.now()}
		changed = true
		return m.save(tx, s)
	})
	if err != nil {
		return Order{}, fmt.Errorf("payment: settle %s: %w", orderNo, err)
	}
	if changed {
		m.notify(out)
	}
	return out.Order, nil
}

func (m *Manager) end(s *stored, st State, reason string) {
	s.State, s.Reason, s.Finished = st, truncate(mask.Text(reason), 300), m.now()
}

// Run resumes the orders left open by an earlier run, drives new ones, and prunes old
// final orders, until ctx is done. Then it stops the drivers (their orders stay as they
// are, to be resumed) and returns nil.
func (m *Manager) Run(ctx context.Context) error {
	if m.o.Gateway == nil {
		return errors.New("payment: no gateway")
	}
	if m.o.ReadOnly {
		return ErrReadOnly
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.runCtx != nil {
		m.mu.Unlock()
		return errors.New("payment: already running")
	}
	m.runCtx = rctx
	m.mu.Unlock()

	if err := m.resume(rctx); err != nil && rctx.Err() == nil {
		m.log.Error("payment: resuming open orders", "err", err)
	}
	m.prune(rctx)
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			m.prune(rctx)
			continue
		case <-rctx.Done():
		}
		break
	}
	m.mu.Lock()
	m.runCtx = nil
	m.mu.Unlock()
	cancel()
	m.wg.Wait()
	return nil
}

// resume starts a driver for every open order without one; CREATED orders of an earlier
// process fail (their code, if one was scanned, was never sent).
func (m *Manager) resume(ctx context.Context) error {
	var seqs []uint64
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOpen).ForEach(func(k, _ []byte) error {
			if len(k) == 8 {
				seqs = append(seqs, binary.BigEndian.Uint64(k))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		m.mu.Lock()
		mine, busy := m.mine[seq], m.drivers[seq] != nil
		m.mu.Unlock()
		if busy {
			continue
		}
		var s *stored
		err := m.db.View(func(tx *bolt.Tx) (err error) {
			s, err = load(tx, seq)
			return err
		})
		if err == nil && s.State == Created && !mine {
			s, err = m.update(ctx, seq, func(s *stored) bool {
				m.end(s, Failed, reasonInterrupted)
				return true
			})
		}
		if err != nil {
			m.log.Error("payment: resume", "seq", seq, "err", err)
			continue
		}
		if !s.State.Final() && s.State != Created {
			m.log.Info("payment: resuming order", "order", s.No, "state", s.State)
			m.start(seq, "")
		}
	}
	return nil
}

// update applies f to the stored order in one durable transaction (when f reports a
// change) and notifies. It returns the order as it is afterwards.
func (m *Manager) update(ctx context.Context, seq uint64, f func(s *stored) bool) (*stored, error) {
	var out *stored
	changed := false
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil {
			return boltstore.NoWrite(err)
		}
		out, changed = s, f(s)
		if !changed {
			return nil
		}
		return m.save(tx, s)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		m.notify(out)
	}
	return out, nil
}

func (m *Manager) notify(s *stored) {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
	if m.o.OnChange != nil {
		m.o.OnChange(s.Order)
	}
}

// drive runs one order's state machine until it is final or ctx is done. code is the
// e-card code when this process has just submitted it, empty when resuming.
func (m *Manager) drive(ctx context.Context, seq uint64, code string, d *driver) {
	defer m.wg.Done()
	defer func() {
		m.mu.Lock()
		delete(m.drivers, seq)
		m.mu.Unlock()
	}()
	for ctx.Err() == nil {
		var s *stored
		err := m.db.View(func(tx *bolt.Tx) (err error) {
			s, err = load(tx, seq)
			return err
		})
		if err != nil {
			m.log.Error("payment: reading order", "seq", seq, "err", err)
			return
		}
		if s.State.Final() {
			m.log.Info("payment: order final", "order", s.No, "state", s.State, "reason", s.Reason)
			return
		}
		if err := m.step(ctx, s, &code, d.wake); err != nil && ctx.Err() == nil {
			// A write failed (disk): the state on disk is still right; try again later.
			m.log.Error("payment: step failed", "order", s.No, "state", s.State, "err", err)
			if !backoff.SleepOrWake(ctx, time.Second, nil) {
				return
			}
		}
	}
}

// step makes one move from s.State. Every decision is written before the call it leads to.
func (m *Manager) step(ctx context.Context, s *stored, code *string, wake <-chan struct{}) error {
	seq := s.Seq
	switch s.State {
	case Created:
		// Only a CREATED order of an earlier process reaches a driver; fail it.
		_, err := m.update(ctx, seq, func(s *stored) bool {
			m.end(s, Failed, reasonInterrupted)
			return true
		})
		return err
	case Sent:
		if *code == "" {
			_, err := m.update(ctx, seq, func(s *stored) bool {
				s.State, s.Reason = Unknown, "the agent stopped during the pay call; checking the outcome"
				return true
			})
			return err
		}
		c := *code
		*code = "" // never sent again, whatever happens
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		res, err := m.o.Gateway.Pay(cctx, PayRequest{OrderNo: s.No, Amount: s.Amount, Subject: s.Subject, Code: c})
		cancel()
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: SENT stays, the next start queries
		}
		_, uerr := m.update(ctx, seq, func(s *stored) bool { m.afterPay(s, res, err); return true })
		return uerr
	case Unknown:
		if !s.CancelRequested && !backoff.SleepOrWake(ctx, m.c.QueryDelay.D(), wake) && ctx.Err() != nil {
			return ctx.Err()
		}
		_, err := m.update(ctx, seq, func(s *stored) bool { s.State = Querying; return true })
		return err
	case Querying:
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		res, qerr := m.o.Gateway.Query(cctx, s.No)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var more bool
		_, err := m.update(ctx, seq, func(s *stored) bool {
			s.Queries++
			more = m.afterQuery(s, res, qerr)
			return true
		})
		if err == nil && more {
			backoff.SleepOrWake(ctx, m.c.QueryInterval.D(), wake)
		}
		return err
	case Reversing:
		if wait := s.Sent.Add(m.c.MinReverseDelay.D()).Sub(m.now()); wait > 0 && !backoff.SleepOrWake(ctx, wait, nil) {
			return ctx.Err()
		}
		cctx, cancel := context.WithTimeout(ctx, m.c.CallTimeout.D())
		rr, rerr := m.o.Gateway.Reverse(cctx, s.No)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var more bool
		_, err := m.update(ctx, seq, func(s *stored) bool {
			s.Reverses++
			more = m.afterReverse(s, rr, rerr)
			return true
		})
		if err == nil && more {
			backoff.SleepOrWake(ctx, m.c.ReverseInterval.D(), nil)
		}
		return err
	}
	return fmt.Errorf("payment: order %s in unexpected state %q", s.No, s.State)
}

// afterPay decides from the pay call's answer.
func (m *Manager) afterPay(s *stored, res Result, err error) {
	if err != nil {
		switch platform.ClassOf(err) {
		case platform.ClassRejected:
			m.end(s, Failed, "refused by the platform: "+err.Error())
		case platform.ClassRetryable:
			m.end(s, Failed, "the platform was not reached; nothing was charged: "+err.Error())
		default: // unknown, unverified, timeouts and anything unclassified
			s.State, s.Reason = Unknown, "outcome unknown: "+truncate(mask.Text(err.Error()), 300)
		}
		return
	}
	switch res.Status {
	case StatusPaid:
		s.TradeNo = res.TradeNo
		m.end(s, Success, "")
	case StatusUserPaying:
		s.State, s.Reason = Querying, "the holder is confirming the payment"
	case StatusClosed, StatusReversed:
		m.end(s, Failed, "refused by the platform: "+res.Reason)
	default:
		s.State, s.Reason = Unknown, "unexpected answer to pay: "+res.Status.String()
	}
}

// afterQuery decides from a query's answer; more reports that querying goes on.
func (m *Manager) afterQuery(s *stored, res Result, err error) (more bool) {
	if err == nil {
		switch res.Status {
		case StatusPaid:
			s.TradeNo = res.TradeNo
			m.end(s, Success, "")
			return false
		case StatusClosed:
			m.end(s, Failed, "closed unpaid on the platform: "+res.Reason)
			return false
		case StatusReversed:
			m.end(s, Reversed, "reversed on the platform")
			return false
		}
	}
	switch {
	case s.CancelRequested:
		s.State, s.Reason = Reversing, "cancelled by the cashier"
		return false
	case !m.now().Before(s.Sent.Add(m.c.QueryFor.D())):
		s.State, s.Reason = Reversing, fmt.Sprintf("no final result within %s", m.c.QueryFor)
		return false
	}
	return true
}

// afterReverse decides from a reverse call's answer; more reports another attempt.
func (m *Manager) afterReverse(s *stored, rr ReverseResult, err error) (more bool) {
	switch {
	case err == nil && rr.Done:
		m.end(s, Reversed, s.Reason)
		return false
	case err != nil && platform.ClassOf(err) == platform.ClassRejected:
		m.end(s, NeedsManual, "reverse refused by the platform: "+err.Error())
		return false
	case s.Reverses >= m.c.ReverseAttempts:
		why := rr.Reason
		if err != nil {
			why = err.Error()
		}
		m.end(s, NeedsManual, fmt.Sprintf("reverse not confirmed after %d attempts: %s", s.Reverses, why))
		return false
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// List returns orders oldest first: all of them, or those in the given states.
func (m *Manager) List(states ...State) ([]Order, error) {
	var out []Order
	err := m.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bOrders).ForEach(func(_, v []byte) error {
			s, err := decodeStored(v)
			if err != nil {
				return nil // counted by the integrity check, not fatal to a listing
			}
			if len(states) == 0 || containsState(states, s.State) {
				out = append(out, s.Order)
			}
			return nil
		})
	})
	return out, err
}

func containsState(states []State, s State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// Unrecorded returns the final orders whose C.4 record the agent has not queued yet
// (MarkRecorded), oldest first. The agent calls it at start to finish what a crash
// interrupted.
func (m *Manager) Unrecorded() ([]Order, error) {
	all, err := m.List(Success, Failed, Reversed, NeedsManual)
	out := all[:0]
	for _, o := range all {
		if !o.Recorded {
			out = append(out, o)
		}
	}
	return out, err
}

// MarkRecorded notes that the order's record is queued.
func (m *Manager) MarkRecorded(ctx context.Context, orderNo string) error {
	seq, ok := parseNo(orderNo)
	if !ok {
		return ErrNotFound
	}
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		s, err := load(tx, seq)
		if err != nil || s.No != orderNo {
			return boltstore.NoWrite(ErrNotFound)
		}
		if s.Recorded {
			return nil
		}
		s.Recorded = true
		return m.save(tx, s)
	})
	if err != nil {
		return fmt.Errorf("payment: mark recorded %s: %w", orderNo, err)
	}
	return nil
}

// Stats counts orders by state, for management and the local API.
type Stats struct {
	ByState map[State]int `json:"byState"`
	// Open counts orders not final yet.
	Open int `json:"open"`
	// NeedsManual counts orders waiting for a person (not settled yet).
	NeedsManual int `json:"needsManual"`
	// Unrecorded counts final orders whose record is not queued yet.
	Unrecorded int `json:"unrecorded"`
}

// Stats returns the counts.
func (m *Manager) Stats() (Stats, error) {
	all, err := m.List()
	st := Stats{ByState: map[State]int{}}
	for _, o := range all {
		st.ByState[o.State]++
		switch {
		case !o.State.Final():
			st.Open++
		case !o.Recorded:
			st.Unrecorded++
		}
		if o.State == NeedsManual && o.Settled == nil {
			st.NeedsManual++
		}
	}
	return st, err
}

// prune deletes final, recorded orders finished more than Retention ago, with their
// code hashes and idempotency keys. Unrecorded orders are kept: their record is owed;
// so are NEEDS_MANUAL orders nobody settled.
func (m *Manager) prune(ctx context.Context) {
	cutoff := m.now().Add(-m.c.Retention.D())
	err := m.db.Update(ctx, func(tx *bolt.Tx) error {
		var del []*stored
		_ = tx.Bucket(bOrders).ForEach(func(_, v []byte) error {
			if s, err := decodeStored(v); err == nil && s.State.Final() && s.Recorded && s.Finished.Before(cutoff) &&
				(s.State != NeedsManual || s.Settled != nil) { // a person's to-do stays until done
				del = append(del, s)
			}
			return nil
		})
		for _, s := range del {
			if err := tx.Bucket(bOrders).Delete(seqKey(s.Seq)); err != nil {
				return err
			}
			if len(s.CodeHash) > 0 {
				if err := tx.Bucket(bCodes).Delete(s.CodeHash); err != nil {
					return err
				}
			}
			if s.IdempotencyKey != "" {
				if err := tx.Bucket(bIdem).Delete([]byte(s.IdempotencyKey)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		m.log.Error("payment: pruning old orders", "err", err)
	}
}

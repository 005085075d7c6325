package payment

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sscagent/sscagent/internal/boltstore"
)

// SchemaVersion is the layout of the payment file:
//
//	meta/                       internal/boltstore: schema, created, seq.order, recovery
//	orders/  seq -> JSON        every order (stored: Order + seq + SM3 of its code)
//	open/    seq -> ""          the orders not final yet, resumed at start
//	codes/   SM3(code) -> seq   every code ever submitted (kept as long as its order)
//	idem/    key -> seq         idempotency keys of the requests that created orders
//	refunds/ refundNo -> JSON   every refund (Refund)                      (schema 2)
//	refundOpen/ refundNo -> ""  the refunds not final yet, resumed at start (schema 2)
const SchemaVersion = 2

var (
	bOrders = []byte("orders")
	bOpen   = []byte("open")
	bCodes  = []byte("codes")
	bIdem   = []byte("idem")

	bRefunds    = []byte("refunds")
	bRefundOpen = []byte("refundOpen")
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
	// Refunds is the platform's refund service; nil: Refund is ErrNotRunning.
	Refunds RefundGateway
	// OnRefundChange is called after each persisted change of a refund. It must not
	// block.
	OnRefundChange func(Refund)
	// OnPruned is called after old final orders (and their refunds) were deleted past
	// Config.Retention, with the counts.
	OnPruned func(orders, refunds int)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
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
	refunds map[string]bool // refunds with a driver
	changed chan struct{}   // closed and replaced on every change
	wg      sync.WaitGroup  // drivers
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
		Schema: boltstore.Schema{Version: SchemaVersion, Init: initSchema,
			Upgrades: map[int]func(*bolt.Tx) error{1: initSchema}},
		LockTimeout: o.Config.LockTimeout.D(),
		ReadOnly:    o.ReadOnly,
		Logger:      o.Logger,
		Now:         o.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("payment: %w", err)
	}
	return &Manager{db: db, o: o, c: o.Config, log: o.Logger, now: o.Now,
		drivers: map[uint64]*driver{}, mine: map[uint64]bool{}, refunds: map[string]bool{}, changed: make(chan struct{})}, nil
}

func initSchema(tx *bolt.Tx) error {
	for _, b := range [][]byte{bOrders, bOpen, bCodes, bIdem, bRefunds, bRefundOpen} {
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

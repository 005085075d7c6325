// Package readers runs the terminal's card readers: it watches the reader subsystem
// (PC/SC, or the in-process simulator for the demo), gives each reader its role from
// the configuration (holder-card reader or PSAM slot), keeps the PSAM open and ready,
// hands new cards to the scenes that wait for them and reads them (card.Read with the
// PSAM, falling back to the platform's HSM two-step).
//
// Manager is an agent part (Run(ctx) error). It survives everything the hardware does:
// readers plugged and unplugged (the PC/SC PnP notification), cards pulled mid-read (a
// clear -2, never half a result), the PSAM pulled or failing (reads fall back to the
// HSM), and the PC/SC service stopping or restarting (it reconnects with backoff and
// picks every reader up again) without restarting the agent. It reports attach,
// removal and PSAM state as Events and its state as Health.
//
// Waiting costs nothing while idle: the manager blocks in the subsystem's own
// notification, and waiters block on a channel.
package readers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/pcsc"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/backoff"
	"github.com/sscagent/sscagent/psam"
)

// Options are a Manager's collaborators. The zero value (with a Config) is usable.
type Options struct {
	// Config is the validated "cards" section.
	Config Config
	// TestTerminal accepts the sandbox's test cards and PSAMs (terminal.test). A
	// production terminal refuses them with a prompt.
	TestTerminal bool
	// HSM is the platform's card internal-auth service for the HSM two-step; nil
	// leaves the two-step out (no PSAM then means -2201).
	HSM psam.InternalAuthenticator
	// Purchase is the HSM variant of a medical purchase's terminal half
	// (psam.PlatformPurchase), used without a PSAM when the HSM is enabled; nil leaves it
	// out.
	Purchase card.PurchaseAuthority
	// Open connects to the reader subsystem; nil means Config.Driver's (pcsc.Open, or
	// the simulator of driver sim).
	Open func() (drivers.System, error)
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
	// OnEvent receives every Event, from the manager's goroutine: it must not block.
	OnEvent func(Event)
	// Backoff paces reconnection to a stopped service; default 200ms doubling to 10s.
	Backoff backoff.Policy
}

// Manager runs the card readers. Create it with New and run it with Run; the other
// methods may be called from any goroutine, also while Run is not running (they then
// report the readers as unavailable).
type Manager struct {
	cfg  Config
	o    Options
	log  *slog.Logger
	open func() (drivers.System, error)
	sim  *simreader.Hub

	ready     chan struct{} // closed once the first snapshot was applied or opening failed
	readyOnce sync.Once

	mu        sync.Mutex // guards the fields below
	sys       drivers.System
	service   bool
	readers   map[string]*reader
	seq       uint64
	boot      map[string]uint64 // each reader's insertion seq when the manager became ready
	lost      map[string]string // holder readers' card ATRs when the service was lost
	upAt      time.Time         // when the service came up last
	changed   chan struct{}     // closed and replaced whenever the state changes
	ps        *psamSession
	psamErr   error     // why the PSAM in psamSlot is not usable
	psamSlot  string    // the PSAM reader psamErr is about
	psamSeq   uint64    // the PSAM insertion psamErr is about
	psamTried time.Time // when opening it last failed
	lastErr   error
	lastErrAt time.Time
}

type reader struct {
	info       ReaderInfo
	insertions uint16
	seq        uint64 // insertion sequence of the card in it; 0 when empty
	carried    bool   // the card was in it before the service restarted (carriedLocked)
}

// New builds a manager. It does not touch the hardware until Run.
func New(o Options) (*Manager, error) {
	m := &Manager{cfg: o.Config, o: o, log: o.Logger, readers: map[string]*reader{}, changed: make(chan struct{}),
		ready: make(chan struct{})}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.o.Backoff.Base == 0 {
		m.o.Backoff = backoff.Policy{Base: 200 * time.Millisecond, Max: 10 * time.Second}
	}
	m.open = o.Open
	if m.open == nil {
		switch o.Config.Driver {
		case DriverSim:
			if !o.TestTerminal {
				return nil, errors.New("readers: driver sim holds test cards; it needs terminal.test: true")
			}
			hub, err := newSimHub(o.Config.Sim)
			if err != nil {
				return nil, err
			}
			m.sim, m.open = hub, hub.Open
		default:
			m.open = func() (drivers.System, error) { return pcsc.Open(pcsc.Options{}) }
		}
	}
	return m, nil
}

// Name implements agent.Part.
func (m *Manager) Name() string { return "cards" }

// SimHub returns the virtual readers of driver sim (to insert and remove cards in the
// demo), or nil for other drivers.
func (m *Manager) SimHub() *simreader.Hub { return m.sim }

// Run watches the readers until ctx ends (it then returns nil). A stopped or restarted
// service is reconnected with backoff; Run returns an error only when the driver cannot
// work in this build at all.
func (m *Manager) Run(ctx context.Context) error {
	b := backoff.New(m.o.Backoff)
	for {
		sys, err := m.open()
		if err != nil {
			if errors.Is(err, drivers.ErrUnsupported) {
				m.fail(err)
				return err
			}
			if b.Failures() == 0 {
				m.log.Warn("card reader service not available; retrying", "err", err)
			}
			m.fail(err)
			if !backoff.Sleep(ctx, b.Next()) {
				return nil
			}
			continue
		}
		if b.Failures() > 0 {
			m.log.Info("card reader service available", "after", b.Failures())
		}
		b.Reset()
		m.mu.Lock()
		m.sys, m.service, m.upAt = sys, true, time.Now()
		m.notifyLocked()
		m.mu.Unlock()
		m.emit(Event{Kind: ServiceUp})
		err = m.watch(ctx, sys)
		m.teardown(sys)
		if ctx.Err() != nil {
			return nil
		}
		m.fail(err)
		m.emit(Event{Kind: ServiceDown, Err: err})
		m.log.Warn("card reader service lost; reconnecting", "err", err)
		if !backoff.Sleep(ctx, b.Next()) {
			return nil
		}
	}
}

// WaitReady blocks until Run has seen the readers once (and tried the PSAM), or found
// the reader service unavailable, or ctx ends. A command that reads one card uses it
// before looking at Readers.
func (m *Manager) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// markReady records which insertions were there when the readers were first seen (the
// waiters made before that hand out only later ones) and releases WaitReady.
func (m *Manager) markReady() {
	m.readyOnce.Do(func() {
		m.mu.Lock()
		m.boot = make(map[string]uint64, len(m.readers))
		for n, r := range m.readers {
			m.boot[n] = r.seq
		}
		m.notifyLocked() // waiters made before now take the snapshot
		m.mu.Unlock()
		close(m.ready)
	})
}

// watch applies the subsystem's state changes until it fails or ctx ends.
func (m *Manager) watch(ctx context.Context, sys drivers.System) error {
	for {
		states, err := sys.Watch(ctx)
		if err != nil {
			return err
		}
		m.apply(ctx, sys, states)
		m.markReady()
	}
}

// apply brings the reader table in line with a snapshot and opens or closes the PSAM.
func (m *Manager) apply(ctx context.Context, sys drivers.System, states []drivers.ReaderState) {
	var evs []Event
	m.mu.Lock()
	seen := make(map[string]bool, len(states))
	for _, st := range states {
		seen[st.Name] = true
		r, ok := m.readers[st.Name]
		if !ok {
			r = &reader{info: ReaderInfo{Name: st.Name, Role: m.cfg.RoleOf(st.Name), Contactless: m.cfg.Contactless(st.Name)}}
			m.readers[st.Name] = r
			evs = append(evs, Event{Kind: ReaderAttached, Reader: st.Name, Role: r.info.Role})
		}
		newCard := st.Present && (!r.info.Present || st.Insertions != r.insertions)
		if r.info.Present && (!st.Present || newCard) {
			evs = append(evs, Event{Kind: CardRemoved, Reader: st.Name, Role: r.info.Role})
			r.seq, r.carried = 0, false
		}
		if newCard {
			m.seq++
			r.seq = m.seq
			r.carried = m.carriedLocked(st.Name, st.ATR)
			evs = append(evs, Event{Kind: CardInserted, Reader: st.Name, Role: r.info.Role, ATR: st.ATR, Carried: r.carried})
		}
		r.info.Present, r.info.Mute, r.insertions = st.Present, st.Mute, st.Insertions
		r.info.ATR = apdu.HexUpper(st.ATR)
	}
	for name, r := range m.readers {
		if !seen[name] {
			if r.info.Present {
				evs = append(evs, Event{Kind: CardRemoved, Reader: name, Role: r.info.Role})
			}
			evs = append(evs, Event{Kind: ReaderRemoved, Reader: name, Role: r.info.Role})
			delete(m.readers, name)
		}
	}
	want := m.wantPSAMLocked()
	cur := m.ps
	if cur != nil && (want == nil || cur.reader != want.info.Name || cur.seq != want.seq) {
		m.ps = nil
	} else {
		cur = nil // nothing to close
	}
	open := want != nil && m.ps == nil && !(m.psamSlot == want.info.Name && m.psamSeq == want.seq && m.psamErr != nil)
	var wantName string
	var wantSeq uint64
	if want != nil {
		wantName, wantSeq = want.info.Name, want.seq
	}
	m.mu.Unlock()

	if cur != nil {
		_ = cur.card.Close(true)
		evs = append(evs, Event{Kind: PSAMRemoved, Reader: cur.reader, Role: RolePSAM})
	}
	for _, e := range evs {
		m.emit(e)
	}
	if open {
		m.openPSAM(ctx, sys, wantName, wantSeq)
	}
	// Waiters wake only now: a card inserted together with the PSAM is read with it.
	m.mu.Lock()
	m.notifyLocked()
	m.mu.Unlock()
}

// carryGrace is how long after the reader service came back a card found in a holder
// reader counts as the one that was there when the service was lost (same reader, same
// ATR): the service restarting is not a holder presenting a card.
const carryGrace = 10 * time.Second

// carriedLocked reports whether a card just seen in reader is the one that was in it
// when the service was lost: waiters do not hand it out, so that a reader service
// restart does not authenticate a card, record it and open a gate a second time. A
// holder who swapped cards while the service was down presents the card again.
func (m *Manager) carriedLocked(reader string, atr []byte) bool {
	if m.lost == nil {
		return false
	}
	if time.Since(m.upAt) > carryGrace {
		m.lost = nil
		return false
	}
	was, ok := m.lost[reader]
	delete(m.lost, reader)
	return ok && was == apdu.HexUpper(atr)
}

// teardown forgets a lost System: readers are gone until the next one reports them.
func (m *Manager) teardown(sys drivers.System) {
	m.mu.Lock()
	ps := m.ps
	m.ps, m.sys, m.service = nil, nil, false
	var evs []Event
	for name, r := range m.readers {
		if r.info.Present && r.info.Role == RolePSAM && ps != nil && ps.reader == name {
			evs = append(evs, Event{Kind: PSAMRemoved, Reader: name, Role: RolePSAM})
		} else if r.info.Present {
			evs = append(evs, Event{Kind: CardRemoved, Reader: name, Role: r.info.Role})
		}
		evs = append(evs, Event{Kind: ReaderRemoved, Reader: name, Role: r.info.Role})
	}
	m.lost = map[string]string{}
	for name, r := range m.readers {
		if r.info.Present && r.info.Role == RoleHolder {
			m.lost[name] = r.info.ATR
		}
	}
	m.readers = map[string]*reader{}
	m.psamErr, m.psamSlot, m.psamSeq = nil, "", 0
	m.notifyLocked()
	m.mu.Unlock()
	if ps != nil {
		_ = ps.card.Close(true) // the next user finds the PSAM reset
	}
	_ = sys.Close()
	for _, e := range evs {
		m.emit(e)
	}
}

func (m *Manager) fail(err error) {
	m.mu.Lock()
	m.lastErr, m.lastErrAt = err, time.Now()
	m.notifyLocked()
	m.mu.Unlock()
	m.markReady()
}

func (m *Manager) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Manager) emit(e Event) {
	e.Time = time.Now()
	if e.Kind == ReaderAttached || e.Kind == ReaderRemoved {
		m.log.Info("card reader "+string(e.Kind[len("reader."):]), "reader", e.Reader, "role", e.Role)
	} else {
		m.log.Debug(string(e.Kind), "reader", e.Reader, "role", e.Role)
	}
	if m.o.OnEvent != nil {
		m.o.OnEvent(e)
	}
}

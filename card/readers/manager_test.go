package readers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/simreader"
	"github.com/sscagent/sscagent/internal/config"
)

// events records a manager's events and lets a test wait for one.
type events struct {
	mu  sync.Mutex
	all []readers.Event
	ch  chan struct{}
}

func newEvents() *events { return &events{ch: make(chan struct{})} }

func (e *events) add(ev readers.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	close(e.ch)
	e.ch = make(chan struct{})
	e.mu.Unlock()
}

// until blocks until cond holds over the events seen so far, within 5 s.
func (e *events) until(t testing.TB, what string, cond func(all []readers.Event) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		e.mu.Lock()
		ok, ch := cond(e.all), e.ch
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not seen; events %v", what, e.kinds())
		}
	}
}

func countIn(all []readers.Event, kind readers.EventKind, reader string) int {
	n := 0
	for _, ev := range all {
		if ev.Kind == kind && (reader == "" || ev.Reader == reader) {
			n++
		}
	}
	return n
}

// wait blocks until an event of kind for reader has been seen (ever), within 5 s.
func (e *events) wait(t testing.TB, kind readers.EventKind, reader string) {
	t.Helper()
	e.until(t, string(kind)+" "+reader, func(all []readers.Event) bool { return countIn(all, kind, reader) > 0 })
}

// count counts the events of kind for reader so far.
func (e *events) count(kind readers.EventKind, reader string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return countIn(e.all, kind, reader)
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		out = append(out, string(ev.Kind)+":"+ev.Reader)
	}
	return out
}

const (
	contact     = "Contact Reader 00 00"
	contactless = "Dual Reader PICC 00 00"
	psamSlot    = "Dual Reader SAM 00 00"
)

type rig struct {
	t   testing.TB
	hub *simreader.Hub
	m   *readers.Manager
	ev  *events
}

func testConfig() readers.Config {
	c := readers.DefaultConfig()
	c.ReadTimeout = config.Duration(5 * time.Second)
	c.HSM.Timeout = config.Duration(2 * time.Second)
	return c
}

// newRig runs a manager over in-process readers until the test ends.
func newRig(t testing.TB, o readers.Options) *rig {
	t.Helper()
	r := &rig{t: t, hub: simreader.New(contact, contactless, psamSlot)}
	if o.Config.Driver == "" {
		o.Config = testConfig()
	}
	if o.Open == nil {
		o.Open = r.hub.Open
	}
	r.run(o, contact)
	return r
}

// run starts the manager of o until the test ends and waits until it saw reader.
func (r *rig) run(o readers.Options, reader string) {
	r.t.Helper()
	r.ev = newEvents()
	o.OnEvent = r.ev.add
	o.Backoff.Base, o.Backoff.Max = 10*time.Millisecond, 200*time.Millisecond
	m, err := readers.New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("Run: %v", err)
		}
	})
	r.ev.wait(r.t, readers.ReaderAttached, reader)
}

func (r *rig) insert(reader, profile string) *cardsim.Card {
	r.t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		r.t.Fatal(err)
	}
	n := r.ev.count(readers.CardInserted, reader)
	if err := r.hub.Insert(reader, c); err != nil {
		r.t.Fatal(err)
	}
	r.waitCount(readers.CardInserted, reader, n+1)
	return c
}

func (r *rig) insertPSAM(o cardsim.PSAMOptions) {
	r.t.Helper()
	p, err := cardsim.NewPSAM(o)
	if err != nil {
		r.t.Fatal(err)
	}
	opened := func(all []readers.Event) int {
		return countIn(all, readers.PSAMReady, psamSlot) + countIn(all, readers.PSAMFailed, psamSlot)
	}
	r.ev.mu.Lock()
	n := opened(r.ev.all)
	r.ev.mu.Unlock()
	if err := r.hub.Insert(psamSlot, p); err != nil {
		r.t.Fatal(err)
	}
	r.ev.until(r.t, "PSAM opened", func(all []readers.Event) bool { return opened(all) > n })
}

func (r *rig) waitCount(kind readers.EventKind, reader string, n int) {
	r.t.Helper()
	r.ev.until(r.t, string(kind)+" "+reader, func(all []readers.Event) bool { return countIn(all, kind, reader) >= n })
}

func TestRolesAndHealth(t *testing.T) {
	r := newRig(t, readers.Options{TestTerminal: true})
	h := r.m.Health()
	if !h.Service || h.HolderReaders != 2 || len(h.Readers) != 3 || h.PSAM.Present {
		t.Fatalf("health %+v", h)
	}
	roles := map[string]readers.ReaderInfo{}
	for _, ri := range r.m.Readers() {
		roles[ri.Name] = ri
	}
	if roles[contact].Role != readers.RoleHolder || roles[contact].Contactless || !roles[contactless].Contactless ||
		roles[psamSlot].Role != readers.RolePSAM {
		t.Fatalf("roles %+v", roles)
	}
	r.insertPSAM(cardsim.PSAMOptions{TerminalNo: "350100000099"})
	h = r.m.Health()
	if !h.PSAM.Usable || h.PSAM.TerminalNo != "350100000099" || h.PSAM.Reader != psamSlot || !h.PSAM.Test {
		t.Fatalf("PSAM health %+v", h.PSAM)
	}
	// Hot-plug: a reader attached and removed while running.
	r.hub.AddReader("Extra Reader 00 00")
	r.ev.wait(t, readers.ReaderAttached, "Extra Reader 00 00")
	r.insert("Extra Reader 00 00", "lisi")
	r.hub.RemoveReader("Extra Reader 00 00")
	r.ev.wait(t, readers.ReaderRemoved, "Extra Reader 00 00")
	if r.ev.count(readers.CardRemoved, "Extra Reader 00 00") != 1 {
		t.Fatal("card in an unplugged reader not reported removed")
	}
}

func TestReadThroughManager(t *testing.T) {
	r := newRig(t, readers.Options{TestTerminal: true, HSM: cardsim.Authenticator{HSM: cardsim.HSM{}}})
	r.insertPSAM(cardsim.PSAMOptions{})
	r.insert(contact, "zhangsan")
	res, err := r.m.Read(context.Background(), contact, readers.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Authenticated || res.AuthBy != "psam" || res.Reader != contact || res.TerminalNo != "350100000001" {
		t.Fatalf("result %+v", res)
	}
	// The PSAM pulled: the next read falls back to the HSM.
	r.hub.Remove(psamSlot)
	r.ev.wait(t, readers.PSAMRemoved, psamSlot)
	res, err = r.m.Read(context.Background(), contact, readers.ReadOptions{})
	if err != nil || res.AuthBy != "hsm" || res.TerminalNo != "000000000000" {
		t.Fatalf("without PSAM: %+v %v", res, err)
	}
	// Errors of the reader itself.
	for _, c := range []struct {
		reader string
		code   card.Code
	}{{contactless, card.CodeNoCard}, {psamSlot, card.CodeBadParameter}, {"Nowhere 00 00", card.CodeReaderConnect}} {
		if _, err := r.m.Read(context.Background(), c.reader, readers.ReadOptions{}); card.CodeOf(err) != c.code {
			t.Errorf("read %s: %v", c.reader, err)
		}
	}
	if h := r.m.Health(); h.LastError == "" || !h.HSM {
		t.Fatalf("health %+v", h)
	}
}

func TestProductionTerminalRefusesTestHardware(t *testing.T) {
	r := newRig(t, readers.Options{})
	r.insertPSAM(cardsim.PSAMOptions{})
	r.ev.wait(t, readers.PSAMFailed, psamSlot)
	if h := r.m.Health(); h.PSAM.Usable || !h.PSAM.Present || !strings.Contains(h.PSAM.Error, "test PSAM") {
		t.Fatalf("PSAM health %+v", h.PSAM)
	}
	r.insert(contact, "lisi")
	_, err := r.m.Read(context.Background(), contact, readers.ReadOptions{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeWrongCardType || ce.PromptCode() != card.PromptTestCard {
		t.Fatalf("test card: %v", err)
	}
	// A real-looking card (no test marker) gets as far as the PSAM, which was refused:
	// -2201 with the test-PSAM prompt.
	p, _ := cardsim.Shipped("lisi")
	p.ATR = "3B6D000000814A444686603501200000" + "02"
	c, _ := cardsim.NewCard(p)
	n := r.ev.count(readers.CardInserted, contact)
	r.hub.Insert(contact, c)
	r.waitCount(readers.CardInserted, contact, n+1)
	_, err = r.m.Read(context.Background(), contact, readers.ReadOptions{})
	if !errors.As(err, &ce) || ce.Code != card.CodeNoPSAM || ce.PromptCode() != card.PromptTestPSAM {
		t.Fatalf("no usable PSAM: %v", err)
	}
	if _, err := readers.New(readers.Options{Config: func() readers.Config { c := testConfig(); c.Driver = readers.DriverSim; return c }()}); err == nil {
		t.Fatal("driver sim on a production terminal")
	}
}

// TestWaiterMadeBeforeReady makes a waiter before the manager has seen the readers, as
// a scene is built: the card in a reader at start is not handed out, a card inserted at
// once after the readers were seen is, however late the waiter's first Next comes.
func TestWaiterMadeBeforeReady(t *testing.T) {
	hub := simreader.New(contact, contactless, psamSlot)
	c, err := cardsim.LoadCard("lisi")
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Insert(contact, c); err != nil { // left in the reader before start
		t.Fatal(err)
	}
	m, err := readers.New(readers.Options{Config: testConfig(), TestTerminal: true, Open: hub.Open})
	if err != nil {
		t.Fatal(err)
	}
	w := m.Waiter(readers.Filter{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	c2, err := cardsim.LoadCard("zhangsan")
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Insert(contactless, c2); err != nil {
		t.Fatal(err)
	}
	next, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	in, err := w.Next(next)
	if err != nil || in.Reader != contactless {
		t.Fatalf("first insertion handed out: %+v, %v; want the card inserted after start in %s", in, err, contactless)
	}
	short, stop2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop2()
	if in, err := w.Next(short); err == nil {
		t.Fatalf("the card present at start was handed out: %+v", in)
	}
}

func TestWaiter(t *testing.T) {
	r := newRig(t, readers.Options{TestTerminal: true})
	r.insert(contact, "lisi")
	// Without IncludePresent the card already there is not handed out.
	w := r.m.Waiter(readers.Filter{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("present card handed out: %v", err)
	}
	cancel()
	all := r.m.Waiter(readers.Filter{IncludePresent: true})
	in, err := all.Next(context.Background())
	if err != nil || in.Reader != contact {
		t.Fatalf("include present: %+v %v", in, err)
	}
	// Both interfaces at once: contact first by default, contactless first on request,
	// each insertion once.
	r.insert(contactless, "zhangsan")
	r.insert(contact, "lisi")
	in, _ = w.Next(context.Background())
	in2, _ := w.Next(context.Background())
	if in.Reader != contact || in2.Reader != contactless {
		t.Fatalf("contact-first order: %s, %s", in.Reader, in2.Reader)
	}
	cl := r.m.Waiter(readers.Filter{IncludePresent: true, Prefer: readers.PreferContactlessFirst})
	if in, _ := cl.Next(context.Background()); in.Reader != contactless || !in.Contactless {
		t.Fatalf("contactless first: %+v", in)
	}
	only := r.m.Waiter(readers.Filter{IncludePresent: true, Prefer: readers.PreferContact})
	if in, _ := only.Next(context.Background()); in.Reader != contact {
		t.Fatalf("contact only: %+v", in)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if in, err := only.Next(ctx); err == nil {
		t.Fatalf("contact-only waiter handed out %+v", in)
	}
	// A scene's reader patterns.
	scene := r.m.Waiter(readers.Filter{IncludePresent: true, Readers: []string{"*picc*"}})
	if in, _ := scene.Next(context.Background()); in.Reader != contactless {
		t.Fatalf("pattern: %+v", in)
	}
	// Waiting is woken by an insertion.
	got := make(chan readers.Insertion, 1)
	go func() { in, _ := w.Next(context.Background()); got <- in }()
	r.insert(contact, "zhangsan")
	select {
	case in := <-got:
		if in.Reader != contact {
			t.Fatalf("woken for %+v", in)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by an insertion")
	}
}

// TestServiceRestart: the reader service going away and coming back is reported, reads
// fail clearly meanwhile and work again after; the card that stayed in its reader is
// not handed out to a scene as a new presentation (it would be authenticated, recorded
// and let through a second time), while a different card found after the restart is.
func TestServiceRestart(t *testing.T) {
	r := newRig(t, readers.Options{TestTerminal: true})
	r.insertPSAM(cardsim.PSAMOptions{})
	scene := r.m.Waiter(readers.Filter{})
	r.insert(contact, "lisi")
	if in, err := scene.Next(context.Background()); err != nil || in.Reader != contact {
		t.Fatalf("first presentation: %+v %v", in, err)
	}
	r.hub.SetService(false)
	r.ev.wait(t, readers.ServiceDown, "")
	if h := r.m.Health(); h.Service || len(h.Readers) != 0 || h.LastError == "" {
		t.Fatalf("health while down %+v", h)
	}
	_, err := r.m.Read(context.Background(), contact, readers.ReadOptions{})
	var ce *card.Error
	if !errors.As(err, &ce) || ce.Code != card.CodeReaderConnect || ce.PromptCode() != card.PromptService {
		t.Fatalf("read while down: %v", err)
	}
	// While the service is down the holder swaps the contactless card for another
	// kind; the contact card stays.
	zhang, err := cardsim.LoadCard("zhangsan")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.hub.Insert(contactless, zhang); err != nil {
		t.Fatal(err)
	}
	r.hub.SetService(true)
	r.waitCount(readers.PSAMReady, psamSlot, 2)
	r.waitCount(readers.CardInserted, contact, 2)
	res, err := r.m.Read(context.Background(), contact, readers.ReadOptions{})
	if err != nil || !res.Authenticated {
		t.Fatalf("read after restart: %+v %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if in, err := scene.Next(ctx); err != nil || in.Reader != contactless {
		t.Fatalf("after the restart the scene got %+v %v; want only the card new in %s", in, err, contactless)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if in, err := scene.Next(short); err == nil {
		t.Fatalf("the card that stayed in its reader through the restart was handed out again: %+v", in)
	}
	r.ev.mu.Lock()
	var carried bool
	for _, ev := range r.ev.all {
		carried = carried || (ev.Kind == readers.CardInserted && ev.Reader == contact && ev.Carried)
	}
	r.ev.mu.Unlock()
	if !carried {
		t.Error("the card inserted event after the restart is not marked carried")
	}
	// A command that reads the card in the reader still can, and the holder presenting
	// it again is a new presentation.
	if in, err := r.m.Waiter(readers.Filter{IncludePresent: true, Readers: []string{contact}}).Next(ctx); err != nil || in.Reader != contact {
		t.Fatalf("IncludePresent after the restart: %+v %v", in, err)
	}
	r.hub.Remove(contact)
	r.insert(contact, "lisi")
	if in, err := scene.Next(ctx); err != nil || in.Reader != contact {
		t.Fatalf("presented again after the restart: %+v %v", in, err)
	}
}

func TestCardPulledMidRead(t *testing.T) {
	r := newRig(t, readers.Options{TestTerminal: true})
	r.insertPSAM(cardsim.PSAMOptions{})
	c := r.insert(contact, "zhangsan")
	c.PullWhen(func(cmd apdu.Command) bool { return cmd.INS == 0x82 })
	res, err := r.m.Read(context.Background(), contact, readers.ReadOptions{})
	var ce *card.Error
	if res != nil || !errors.As(err, &ce) || ce.Code != card.CodeNoCard || ce.PromptCode() != card.PromptRemoved {
		t.Fatalf("pulled: %+v %v", res, err)
	}
	r.ev.wait(t, readers.CardRemoved, contact)
}

// countingSystem counts Watch returns, to check the manager does not poll.
type countingSystem struct {
	drivers.System
	n *atomic.Int64
}

func (c countingSystem) Watch(ctx context.Context) ([]drivers.ReaderState, error) {
	s, err := c.System.Watch(ctx)
	c.n.Add(1)
	return s, err
}

func TestIdleDoesNotPoll(t *testing.T) {
	var n atomic.Int64
	hub := simreader.New(contact)
	r := newRig(t, readers.Options{TestTerminal: true, Open: func() (drivers.System, error) {
		s, err := hub.Open()
		if err != nil {
			return nil, err
		}
		return countingSystem{s, &n}, nil
	}})
	_ = r
	before := n.Load()
	time.Sleep(300 * time.Millisecond) // nothing happens: the manager must stay blocked
	if after := n.Load(); after != before {
		t.Fatalf("%d Watch wakeups while idle", after-before)
	}
	c, _ := cardsim.LoadCard("lisi")
	hub.Insert(contact, c)
	r.ev.wait(t, readers.CardInserted, contact)
	if n.Load() != before+1 {
		t.Fatalf("%d wakeups for one insertion", n.Load()-before)
	}
}

func TestConfig(t *testing.T) {
	var ps config.Problems
	readers.DefaultConfig().Validate("cards", &ps)
	if ps.Len() != 0 {
		t.Fatalf("defaults invalid: %v", ps.List())
	}
	c := readers.DefaultConfig()
	c.Driver = "usb"
	c.Readers.Holder = []string{"["}
	c.Prefer = "any"
	c.ReadTimeout = 0
	c.DeviceNo = "a|b"
	c.PSAM.Levels = []int{4}
	c.HSM.Attempts = 0
	c.Sim.Cards = []string{""}
	c.Sim.Readers = 5
	ps = config.Problems{}
	c.Validate("cards", &ps)
	var got []string
	for _, p := range ps.List() {
		got = append(got, p.Path)
	}
	want := "cards.driver cards.readers.holder[0] cards.prefer cards.readTimeout cards.deviceNo cards.psam.levels[0] cards.hsm.attempts cards.sim.cards[0] cards.sim.readers cards.hsm.timeout"
	if strings.Join(got, " ") != want {
		t.Fatalf("problems:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if readers.PreferContactlessFirst.IType() != 4 || readers.Preference("x").IType() != 0 {
		t.Fatal("iType")
	}
	d := readers.DefaultConfig()
	if d.RoleOf("ACS ACR1281 1S Dual Reader SAM 00 00") != readers.RolePSAM || d.RoleOf("ACS ACR39U ICC Reader 00 00") != readers.RoleHolder ||
		!d.Contactless("ACS ACR1281 1S Dual Reader PICC 00 00") || d.Contactless("Generic Smart Card Reader 00 00") {
		t.Fatal("default roles")
	}
}

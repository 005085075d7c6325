//go:build cgo && linux

package pcsc_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/pcsc"
	"github.com/sscagent/sscagent/internal/labtest"
)

// These tests run against a real pcscd with the vpcd driver, private to this test
// binary (labtest.SharedPCSCD); the cards are the sandbox's virtual cards connected over
// vpcd's TCP protocol.

func TestMain(m *testing.M) {
	code := m.Run()
	labtest.StopSharedPCSCD()
	os.Exit(code)
}

var (
	holder = labtest.Reader("Holder", 0)
	slot2  = labtest.Reader("Holder", 1)
)

func daemon(t *testing.T) *labtest.PCSCD {
	return labtest.SharedPCSCD(t, "Holder")
}

func open(t *testing.T) drivers.System {
	t.Helper()
	s, err := pcsc.Open(pcsc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// insert serves a shipped profile in a vpcd slot until the test ends (or the returned
// function removes it).
func insert(t *testing.T, addr, profile string) (*cardsim.Card, func()) {
	t.Helper()
	c, err := cardsim.LoadCard(profile)
	if err != nil {
		t.Fatal(err)
	}
	in := cardsim.Insert(addr, c, cardsim.ServeOptions{})
	remove := func() { _ = in.Remove() }
	t.Cleanup(remove)
	return c, remove
}

// last holds the states each System's Watch returned last: Watch reports changes
// only, so a wait must start from what was already seen.
var last sync.Map // drivers.System -> []drivers.ReaderState

// waitState watches until cond holds for the reader's state, within 5 s.
func waitState(t *testing.T, s drivers.System, reader string, cond func(drivers.ReaderState, bool) bool) drivers.ReaderState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		var states []drivers.ReaderState
		if v, ok := last.LoadAndDelete(s); ok {
			states = v.([]drivers.ReaderState)
		} else {
			var err error
			if states, err = s.Watch(ctx); err != nil {
				t.Fatalf("waiting for %s: %v\n%s", reader, err, labtest.SharedPCSCD(t).Log())
			}
		}
		i := slices.IndexFunc(states, func(r drivers.ReaderState) bool { return r.Name == reader })
		var st drivers.ReaderState
		if i >= 0 {
			st = states[i]
		}
		if cond(st, i >= 0) {
			last.Store(s, states)
			return st
		}
	}
}

func present(st drivers.ReaderState, ok bool) bool { return ok && st.Present }
func empty(st drivers.ReaderState, ok bool) bool   { return ok && !st.Present }

func TestInsertTransmitRemove(t *testing.T) {
	d := daemon(t)
	s := open(t)
	st := waitState(t, s, holder, empty)
	before := st.Insertions
	_, remove := insert(t, d.Addr("Holder", 0), "lisi")
	st = waitState(t, s, holder, present)
	if apdu.HexUpper(st.ATR) != "3B6D000000544553545353350120000002" || st.Insertions == before {
		t.Fatalf("state %+v (insertions before %d)", st, before)
	}
	c, err := s.Connect(context.Background(), holder, false)
	if err != nil {
		t.Fatal(err)
	}
	ch := apdu.NewChannel(c, apdu.ChannelOptions{})
	fci, err := ch.Do(context.Background(), apdu.Command{INS: 0xA4, P1: 4, Data: card.SSSEName})
	if err != nil || len(fci) != 0x1E || ch.Exchanges() != 2 {
		t.Fatalf("SELECT over pcscd: %X %v (%d exchanges)", fci, err, ch.Exchanges())
	}
	remove()
	waitState(t, s, holder, empty)
	if _, err := c.Transmit(context.Background(), []byte{0, 0x84, 0, 0, 8}); !drivers.Removed(err) {
		t.Fatalf("transmit after removal: %v", err)
	}
	if err := c.Close(true); err != nil {
		t.Fatalf("close after removal: %v", err)
	}
	if _, err := s.Connect(context.Background(), holder, false); !errors.Is(err, drivers.ErrNoCard) {
		t.Fatalf("connect to an empty reader: %v", err)
	}
	if _, err := s.Connect(context.Background(), "No Such Reader 00 00", false); !errors.Is(err, drivers.ErrNoReader) {
		t.Fatalf("connect to an unknown reader: %v", err)
	}
}

func TestPulledMidCommand(t *testing.T) {
	d := daemon(t)
	s := open(t)
	c, _ := insert(t, d.Addr("Holder", 1), "zhangsan")
	waitState(t, s, slot2, present)
	conn, err := s.Connect(context.Background(), slot2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(true)
	c.PullWhen(func(cmd apdu.Command) bool { return cmd.INS == 0x84 })
	_, err = conn.Transmit(context.Background(), []byte{0, 0x84, 0, 0, 8})
	if !drivers.Removed(err) {
		t.Fatalf("card pulled during the command: %v", err)
	}
	waitState(t, s, slot2, empty)
}

func TestExclusiveAndConcurrent(t *testing.T) {
	d := daemon(t)
	s := open(t)
	insert(t, d.Addr("Holder", 0), "lisi")
	insert(t, d.Addr("Holder", 1), "zhangsan")
	waitState(t, s, holder, present)
	waitState(t, s, slot2, present)
	a, err := s.Connect(context.Background(), holder, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(false)
	if _, err := s.Connect(context.Background(), holder, false); !errors.Is(err, drivers.ErrReaderBusy) {
		t.Fatalf("second connection to an exclusive card: %v", err)
	}
	b, err := s.Connect(context.Background(), slot2, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(true)
	// A shared connection holds a transaction: a second one waits for it, within its
	// context.
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if _, err := s.Connect(short, slot2, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second shared connection during a transaction: %v", err)
	}
	cancel()
	// Two readers at once: no cross-talk.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, c := range []drivers.Card{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				r, err := c.Transmit(context.Background(), []byte{0, 0x84, 0, 0, 8})
				if err != nil || len(r) != 10 {
					errs <- errors.Join(err, errors.New("bad answer"))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A context that ends first returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Transmit(ctx, []byte{0, 0x84, 0, 0, 8}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled transmit: %v", err)
	}
}

// TestWatchCancelled: a Watch returns the changes it reports, or, once its context ends
// or the System is closed, DeadlineExceeded or ErrClosed; a Watch blocked in the daemon
// is interrupted at once by either.
//
// The test first waits until every slot of the test's readers is reported empty: the
// cards of earlier tests were removed in their cleanup, but pcscd sees a removal only at
// its next 400 ms poll, and such a late report would end a Watch before its context or
// Close does. With empty readers the daemon is quiet and Watch blocks.
func TestWatchCancelled(t *testing.T) {
	daemon(t)
	s := open(t)
	waitState(t, s, holder, empty)
	waitState(t, s, slot2, empty)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := watchUntilError(ctx, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %s", d)
	}

	// Close interrupts a blocked Watch too.
	errc := make(chan error, 1)
	go func() { errc <- watchUntilError(context.Background(), s) }()
	waitInStatusChange(t)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, drivers.ErrClosed) {
			t.Fatalf("watch after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Watch")
	}
}

// watchUntilError calls Watch until it fails and returns the error: what a Watch
// guarantees is that it returns reported changes until its context ends or the System
// is closed, and then that error.
func watchUntilError(ctx context.Context, s drivers.System) error {
	for {
		if _, err := s.Watch(ctx); err != nil {
			return err
		}
	}
}

// waitInStatusChange waits, for at most 5 s, until a goroutine of this process is
// blocked in SCardGetStatusChange (the Watch of TestWatchCancelled: no other System is
// open then), so that Close interrupts a Watch waiting in the daemon rather than one
// that has not started.
func waitInStatusChange(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
		if strings.Contains(string(buf[:n]), "scard.(*Context).GetStatusChange(") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Watch blocked in SCardGetStatusChange within 5s:\n%s", buf[:n])
		}
	}
}

// TestReaderSetAcrossRestart: readers attached or removed while pcscd was down are
// seen by a new System. (Debian's pcscd cannot add vpcd readers while running; PnP
// attach and removal are tested with simreader in card/readers.)
func TestReaderSetAcrossRestart(t *testing.T) {
	d := daemon(t)
	extra := labtest.Reader("Extra", 0)
	if err := d.AddReader("Extra"); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	s := open(t)
	insert(t, d.Addr("Extra", 0), "lisi")
	waitState(t, s, extra, present)
	if err := d.RemoveReader("Extra"); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t)
	waitState(t, s2, extra, func(_ drivers.ReaderState, ok bool) bool { return !ok })
}

// TestServiceRestart stops pcscd under an open System: calls fail with ErrNoService,
// Open fails while it is down, and a new System sees the readers and the card (which
// reconnects by itself) once it is back.
func TestServiceRestart(t *testing.T) {
	d := daemon(t)
	s := open(t)
	insert(t, d.Addr("Holder", 0), "lisi")
	waitState(t, s, holder, present)
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Watch(context.Background()); err != nil {
				errc <- err
				return
			}
		}
	}()
	d.Stop()
	select {
	case err := <-errc:
		if !errors.Is(err, drivers.ErrNoService) {
			t.Fatalf("watch while pcscd stops: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not notice pcscd stopping")
	}
	if _, err := pcsc.Open(pcsc.Options{}); !errors.Is(err, drivers.ErrNoService) {
		t.Fatalf("open while pcscd is down: %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t)
	waitState(t, s2, holder, present)
}

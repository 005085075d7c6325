package simreader_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/drivers/apdu"
	"github.com/sscagent/sscagent/drivers/simreader"
)

func TestHub(t *testing.T) {
	ctx := context.Background()
	h := simreader.New("R 00 00")
	s, err := h.Open()
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Watch(ctx)
	if err != nil || len(st) != 1 || st[0].Present {
		t.Fatalf("first watch %+v %v", st, err)
	}
	// The next Watch blocks until something changes.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if _, err := s.Watch(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch without a change: %v", err)
	}
	cancel()
	c, _ := cardsim.LoadCard("lisi")
	if err := h.Insert("R 00 00", c); err != nil {
		t.Fatal(err)
	}
	st, _ = s.Watch(ctx)
	if !st[0].Present || st[0].Insertions != 1 || len(st[0].ATR) != 17 {
		t.Fatalf("after insert %+v", st)
	}
	a, err := s.Connect(ctx, "R 00 00", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connect(ctx, "R 00 00", false); !errors.Is(err, drivers.ErrReaderBusy) {
		t.Fatalf("second connection to an exclusive card: %v", err)
	}
	if r, err := a.Transmit(ctx, []byte{0, 0x84, 0, 0, 8}); err != nil || len(r) != 10 {
		t.Fatalf("transmit %x %v", r, err)
	}
	h.Remove("R 00 00")
	if _, err := a.Transmit(ctx, []byte{0, 0x84, 0, 0, 8}); !errors.Is(err, drivers.ErrCardRemoved) {
		t.Fatalf("transmit after removal: %v", err)
	}
	_ = a.Close(true)
	if _, err := s.Connect(ctx, "R 00 00", false); !errors.Is(err, drivers.ErrNoCard) {
		t.Fatalf("connect to an empty reader: %v", err)
	}
	// A card that pulls itself out mid-command is removed from its reader.
	pulled, _ := cardsim.LoadCard("zhangsan")
	pulled.PullWhen(func(apdu.Command) bool { return true })
	_ = h.Insert("R 00 00", pulled)
	b, _ := s.Connect(ctx, "R 00 00", false)
	if _, err := b.Transmit(ctx, []byte{0, 0x84, 0, 0, 8}); !drivers.Removed(err) {
		t.Fatalf("pulled: %v", err)
	}
	// Hot-plug.
	h.AddReader("S 00 00")
	st, _ = s.Watch(ctx)
	if len(st) != 2 {
		t.Fatalf("after attach %+v", st)
	}
	// The service stops: this System is dead for good, Open fails until it is back.
	errc := make(chan error, 1)
	go func() { _, err := s.Watch(ctx); errc <- err }()
	h.SetService(false)
	if err := <-errc; !errors.Is(err, drivers.ErrNoService) {
		t.Fatalf("watch while the service stops: %v", err)
	}
	if _, err := h.Open(); !errors.Is(err, drivers.ErrNoService) {
		t.Fatalf("open while down: %v", err)
	}
	h.SetService(true)
	if _, err := s.Watch(ctx); !errors.Is(err, drivers.ErrNoService) {
		t.Fatalf("old System after the restart: %v", err)
	}
	s2, err := h.Open()
	if err != nil {
		t.Fatal(err)
	}
	// Close interrupts a blocked Watch.
	_, _ = s2.Watch(ctx)
	go func() { _, err := s2.Watch(ctx); errc <- err }()
	s2.Close()
	if err := <-errc; !errors.Is(err, drivers.ErrClosed) {
		t.Fatalf("watch after close: %v", err)
	}
}

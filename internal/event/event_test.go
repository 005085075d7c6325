package event

import (
	"testing"
)

func TestFanOutAndReplay(t *testing.T) {
	b := NewBus(4)
	a := b.Subscribe(10, false, 0)
	for i := 0; i < 6; i++ {
		b.Publish(Event{Kind: "x"})
	}
	if got := len(a.C()); got != 6 {
		t.Fatalf("subscriber got %d events, want 6", got)
	}
	late := b.Subscribe(10, true, 3)
	var seqs []uint64
	for len(late.C()) > 0 {
		seqs = append(seqs, (<-late.C()).Seq)
	}
	if len(seqs) != 3 || seqs[0] != 4 || seqs[2] != 6 {
		t.Fatalf("replay after 3 = %v, want [4 5 6]", seqs)
	}
	if ev := b.Since(0); len(ev) != 4 || ev[0].Seq != 3 {
		t.Fatalf("ring kept %v", ev)
	}
}

func TestSlowSubscriberDropsOldest(t *testing.T) {
	b := NewBus(0)
	s := b.Subscribe(2, false, 0)
	for i := 0; i < 5; i++ {
		b.Publish(Event{Kind: "x"})
	}
	if d := s.Dropped(); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	if e := <-s.C(); e.Seq != 4 {
		t.Fatalf("oldest kept is %d, want 4", e.Seq)
	}
	s.Close()
	b.Publish(Event{})
	if len(s.C()) != 1 {
		t.Fatal("closed subscription still receives")
	}
}

package readers

import (
	"context"
	"sort"
)

// Filter selects the cards a Waiter hands out.
type Filter struct {
	// Readers are glob patterns over holder-reader names (a scene's readers); empty
	// means every holder reader.
	Readers []string
	// Prefer overrides cards.prefer (iType) for this waiter; empty keeps it.
	Prefer Preference
	// IncludePresent hands out the cards already in the readers when the Waiter is
	// made (a "card read" command); otherwise only cards inserted afterwards, and for
	// a Waiter made before the manager is ready (a scene built with it), only cards
	// inserted after the readers were first seen: a card left in a reader does not
	// count as presented, however quickly the scene starts. Neither does a card that
	// stayed in its reader while the reader service restarted.
	IncludePresent bool
}

// Insertion is a card a Waiter hands out.
type Insertion struct {
	Reader      string
	Contactless bool
	// Seq orders insertions (manager-wide, increasing).
	Seq uint64
}

// Waiter hands out the cards inserted into a set of readers, each insertion once, in
// the order of the interface preference. It is not safe for concurrent use; make one
// per scene.
type Waiter struct {
	m    *Manager
	f    Filter
	seen map[string]uint64
	boot bool // seen is to be taken from the manager's snapshot when it becomes ready
}

// Waiter returns a waiter for the holder readers f selects.
func (m *Manager) Waiter(f Filter) *Waiter {
	if f.Prefer == "" {
		f.Prefer = m.cfg.Prefer
	}
	w := &Waiter{m: m, f: f, seen: map[string]uint64{}}
	if !f.IncludePresent {
		m.mu.Lock()
		if m.boot == nil {
			w.boot = true
		}
		for n, r := range m.readers {
			w.seen[n] = r.seq
		}
		m.mu.Unlock()
	}
	return w
}

// Next blocks until a card is inserted into one of the waiter's readers (one it has
// not handed out yet), or ctx ends.
func (w *Waiter) Next(ctx context.Context) (Insertion, error) {
	for {
		w.m.mu.Lock()
		in, ok := w.pickLocked()
		changed := w.m.changed
		w.m.mu.Unlock()
		if ok {
			w.seen[in.Reader] = in.Seq
			return in, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Insertion{}, ctx.Err()
		}
	}
}

func (w *Waiter) pickLocked() (Insertion, bool) {
	if w.boot {
		if w.m.boot == nil {
			return Insertion{}, false // not ready: what is present is not known yet
		}
		for n, s := range w.m.boot {
			w.seen[n] = max(w.seen[n], s)
		}
		w.boot = false
	}
	var cands []Insertion
	for n, r := range w.m.readers {
		if r.info.Role != RoleHolder || !r.info.Present || r.seq <= w.seen[n] || (r.carried && !w.f.IncludePresent) {
			continue
		}
		if len(w.f.Readers) > 0 && !match(w.f.Readers, n) {
			continue
		}
		switch {
		case w.f.Prefer == PreferContact && r.info.Contactless, w.f.Prefer == PreferContactless && !r.info.Contactless:
			continue
		}
		cands = append(cands, Insertion{Reader: n, Contactless: r.info.Contactless, Seq: r.seq})
	}
	if len(cands) == 0 {
		return Insertion{}, false
	}
	contactlessFirst := w.f.Prefer == PreferContactlessFirst
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.Contactless != b.Contactless {
			return a.Contactless == contactlessFirst
		}
		return a.Seq < b.Seq
	})
	return cands[0], true
}

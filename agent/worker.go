package agent

import (
	"context"
	"sync"
	"time"

	"github.com/sscagent/sscagent/agent/gate"
	"github.com/sscagent/sscagent/card/readers"
	"github.com/sscagent/sscagent/qrscan"
)

// sceneRun is the worker of one scene: an agent part that takes the cards inserted into
// the scene's readers and the codes of its scanners and runs each through the pipeline,
// one at a time (a gate lets one person through at a time; a scan arriving meanwhile
// waits in a one-slot buffer, and the scanner drops what does not fit, since a queued
// e-card code would go stale). Scenes run side by side.
type sceneRun struct {
	a     *Agent
	cfg   Scene
	all   []Scene // every scene of the configuration: a reader belongs to the first that matches
	gate  gate.Opener
	cards *readers.Manager // nil when no scene takes cards
	cardW *readers.Waiter  // the scene's cards; made with the scene, so it knows what was present first
	scans chan qrscan.Scan // the scanners' Out
}

// Name implements Part.
func (s *sceneRun) Name() string { return "scene/" + s.cfg.Name }

// Run implements Part.
func (s *sceneRun) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ins := make(chan readers.Insertion)
	if s.cardW != nil {
		wg.Go(func() { s.watchCards(ctx, ins) })
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		changed := s.a.waits.changed()
		if d, ok := s.codeDeadline(); ok {
			timer.Reset(max(time.Until(d), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case in := <-ins:
			s.a.cardInserted(ctx, s, in)
		case sc := <-s.scans:
			s.a.scanned(ctx, s, sc)
		case <-timer.C:
			s.a.codeTimeout(ctx, s)
		case <-changed:
		}
	}
}

// watchCards hands the scene the cards inserted into its readers, leaving the readers
// that an earlier scene matches to that scene. A card already in a reader when the
// readers are first seen is not taken (a card left behind must not open a gate at
// start): the holder inserts it again. The waiter is made with the scene, before the
// readers are first seen, so a card inserted right after start is not mistaken for one
// left behind.
func (s *sceneRun) watchCards(ctx context.Context, out chan<- readers.Insertion) {
	for {
		in, err := s.cardW.Next(ctx)
		if err != nil {
			return // ctx ended
		}
		if i := ownerOf(s.all, in.Reader); i < 0 || s.all[i].Name != s.cfg.Name {
			continue
		}
		select {
		case out <- in:
		case <-ctx.Done():
			return
		}
	}
}

// codeDeadline returns when the order waiting for a code in this scene expires.
func (s *sceneRun) codeDeadline() (time.Time, bool) {
	w, ok := s.a.waits.get(s.cfg.Name)
	return w.deadline, ok
}

// payWaits holds, per payment scene, the order that waits for the holder's code (the
// next e-card code scanned in the scene pays it). It lives as long as the agent, so a
// configuration applied in process does not lose a waiting order.
type payWaits struct {
	mu sync.Mutex // guards the fields below
	m  map[string]waiting
	ch chan struct{} // closed and replaced on every change
}

type waiting struct {
	no       string
	deadline time.Time
}

func newPayWaits() *payWaits { return &payWaits{m: map[string]waiting{}, ch: make(chan struct{})} }

// set makes order no the scene's waiting order. It fails when another order waits.
func (p *payWaits) set(scene, no string, deadline time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.m[scene]; ok && w.no != no {
		return false
	}
	p.m[scene] = waiting{no: no, deadline: deadline}
	p.notifyLocked()
	return true
}

// get returns the scene's waiting order.
func (p *payWaits) get(scene string) (waiting, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.m[scene]
	return w, ok
}

// clear removes order no from the scene's wait, if it is the one waiting.
func (p *payWaits) clear(scene, no string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.m[scene]; ok && w.no == no {
		delete(p.m, scene)
		p.notifyLocked()
	}
}

func (p *payWaits) changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ch
}

func (p *payWaits) notifyLocked() {
	close(p.ch)
	p.ch = make(chan struct{})
}

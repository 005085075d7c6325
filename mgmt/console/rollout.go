package console

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/fleet"
	"github.com/sscagent/sscagent/mgmt/rollout"
)

// Rollout states.
const (
	RolloutRunning = "running"
	RolloutDone    = "done"
	RolloutStopped = "stopped" // by a manager
	RolloutHalted  = "halted"  // a batch had a terminal that did not commit
)

// Per-terminal statuses of a rollout besides the terminal's own and the fleet's.
const (
	StatusQueued    = "queued"    // in a later batch
	StatusSent      = "sent"      // published, no report yet
	StatusNotSent   = "not-sent"  // the rollout ended before its batch
	StatusUnwatched = "unwatched" // sent, the rollout stopped waiting
)

// RolloutTerminal is one terminal of a rollout.
type RolloutTerminal struct {
	ID       string            `json:"id"`
	Status   string            `json:"status"`
	Version  uint64            `json:"version,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Problems []rollout.Problem `json:"problems,omitempty"`
}

// RolloutView is a rollout as the console shows it.
type RolloutView struct {
	ID        string            `json:"id"`
	By        string            `json:"by"`
	Targets   []string          `json:"targets"`
	Doc       string            `json:"doc"`
	SHA256    string            `json:"sha256"`
	Batch     int               `json:"batch"`
	State     string            `json:"state"`
	Reason    string            `json:"reason,omitempty"`
	Started   time.Time         `json:"started"`
	Ended     time.Time         `json:"ended,omitzero"`
	Counts    map[string]int    `json:"counts"`
	Terminals []RolloutTerminal `json:"terminals,omitempty"`
}

// run is one rollout in progress or ended.
type run struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex // guards v and by
	v    RolloutView
	byID map[string]*RolloutTerminal
}

func (r *run) view(full bool) RolloutView {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.v
	v.Targets = slices.Clone(v.Targets)
	v.Counts = map[string]int{}
	for _, t := range r.v.Terminals {
		v.Counts[t.Status]++
	}
	if full {
		v.Terminals = slices.Clone(r.v.Terminals)
	} else {
		v.Terminals, v.Doc = nil, ""
	}
	return v
}

func (r *run) set(id string, fn func(t *RolloutTerminal)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.byID[id]; t != nil {
		fn(t)
	}
}

// rollouts keeps the console's rollouts, the most recent maxRollouts.
type rollouts struct {
	mu   sync.Mutex // guards list
	list []*run
}

const maxRollouts = 50

// RolloutSpec is what a manager asks for.
type RolloutSpec struct {
	Targets []string
	IDs     []string // Targets resolved
	Doc     []byte
	Batch   int           // terminals per batch; 0: all at once
	Timeout time.Duration // per batch
	By      string
	// OnEnd, when set, is called once with the rollout as it ended.
	OnEnd func(RolloutView)
}

// start begins a rollout on its own goroutine; model is touched at each change.
func (rs *rollouts) start(f Fleet, model *Model, spec RolloutSpec) *run {
	if spec.Batch <= 0 || spec.Batch > len(spec.IDs) {
		spec.Batch = len(spec.IDs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{cancel: cancel, done: make(chan struct{}), byID: map[string]*RolloutTerminal{}}
	r.v = RolloutView{ID: fmt.Sprintf("r%d-%s", time.Now().Unix(), newToken()[:6]), By: spec.By, Targets: spec.Targets,
		Doc: string(spec.Doc), SHA256: rollout.Hash(spec.Doc), Batch: spec.Batch, State: RolloutRunning, Started: time.Now().UTC()}
	r.v.Terminals = make([]RolloutTerminal, len(spec.IDs))
	for i, id := range spec.IDs {
		r.v.Terminals[i] = RolloutTerminal{ID: id, Status: StatusQueued}
		r.byID[id] = &r.v.Terminals[i]
	}
	rs.mu.Lock()
	rs.list = append(rs.list, r)
	if len(rs.list) > maxRollouts {
		// Forget the oldest ended one.
		if i := slices.IndexFunc(rs.list, func(x *run) bool { return x.view(false).State != RolloutRunning }); i >= 0 {
			rs.list = slices.Delete(rs.list, i, i+1)
		}
	}
	rs.mu.Unlock()
	go func() {
		defer close(r.done)
		defer cancel()
		state, reason := r.execute(ctx, f, model, spec)
		r.mu.Lock()
		if r.v.State == RolloutRunning {
			r.v.State, r.v.Reason = state, reason
		}
		r.v.Ended = time.Now().UTC()
		for i := range r.v.Terminals {
			switch t := &r.v.Terminals[i]; t.Status {
			case StatusQueued:
				t.Status = StatusNotSent
			case StatusSent, string(rollout.StatusApplying), string(rollout.StatusGating), fleet.StatusTimeout:
				if r.v.State == RolloutStopped {
					t.Status = StatusUnwatched
				}
			}
		}
		r.mu.Unlock()
		model.Touch()
		if spec.OnEnd != nil {
			spec.OnEnd(r.view(true))
		}
	}()
	model.Touch()
	return r
}

// execute pushes batch after batch; a batch with a terminal that did not run the
// document halts the rollout before the next.
func (r *run) execute(ctx context.Context, f Fleet, model *Model, spec RolloutSpec) (state, reason string) {
	ids := spec.IDs
	for lo := 0; lo < len(ids); lo += spec.Batch {
		if ctx.Err() != nil {
			return RolloutStopped, ""
		}
		batch := ids[lo:min(lo+spec.Batch, len(ids))]
		for _, id := range batch {
			r.set(id, func(t *RolloutTerminal) { t.Status = StatusSent })
		}
		model.Touch()
		res, err := f.PushConfig(ctx, batch, spec.Doc, fleet.PushOptions{Timeout: spec.Timeout, IssuedBy: spec.By + "@sscagent-console",
			Progress: func(id string, rep mgmt.Reported) {
				r.set(id, func(t *RolloutTerminal) { t.Status, t.Version = string(rep.Status), rep.Version })
				model.Touch()
			}})
		if ctx.Err() != nil {
			return RolloutStopped, ""
		}
		if err != nil {
			return RolloutHalted, err.Error()
		}
		bad := 0
		for _, pr := range res {
			r.set(pr.ID, func(t *RolloutTerminal) {
				t.Status, t.Version, t.Reason, t.Problems = pr.Status, pr.Version, pr.Reason, pr.Problems
			})
			if !pr.OK() && pr.Status != fleet.StatusOffline {
				bad++
			}
		}
		model.Touch()
		if bad > 0 && lo+spec.Batch < len(ids) {
			return RolloutHalted, fmt.Sprintf("%d terminals of the batch did not commit", bad)
		}
	}
	return RolloutDone, ""
}

// stop ends a running rollout: no further batch is sent and the current one is not
// waited for. Terminals that have the document keep processing it.
func (r *run) stop() bool {
	r.mu.Lock()
	running := r.v.State == RolloutRunning
	if running {
		r.v.State = RolloutStopped
	}
	r.mu.Unlock()
	if running {
		r.cancel()
		<-r.done
	}
	return running
}

func (rs *rollouts) get(id string) *run {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.list {
		if r.v.ID == id {
			return r
		}
	}
	return nil
}

// all returns the rollouts, newest first, without their terminals.
func (rs *rollouts) all() []RolloutView {
	rs.mu.Lock()
	list := slices.Clone(rs.list)
	rs.mu.Unlock()
	out := make([]RolloutView, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i].view(false))
	}
	return out
}

// stopAll stops every running rollout (at shutdown).
func (rs *rollouts) stopAll() {
	rs.mu.Lock()
	list := slices.Clone(rs.list)
	rs.mu.Unlock()
	for _, r := range list {
		r.stop()
	}
}

// Package backflowtest is a platform backflow endpoint for tests: a real HTTP server that
// keeps a ledger of every record it was sent, de-duplicates on the record id like the
// platform does, and injects faults on demand (outage, rejections, lost answers); and an
// HTTP Submitter that talks to it and classifies failures the way the platform client
// does (platform.ClassOf).
package backflowtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/queue"
	"github.com/sscagent/sscagent/queue/backflow"
)

// wireItem and wireAck are the JSON of the test protocol:
// POST /backflow {"items":[{"id","kind","body"}]} -> {"acks":[{"id","status","reason"}]}.
type wireItem struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Body []byte `json:"body"`
}

type wireAck struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Entry is what the ledger holds for one record id.
type Entry struct {
	Kind  string
	Body  []byte
	Sends int // times the id was received (1 + duplicates)
}

// Ledger is the platform side: an HTTP server recording every record.
type Ledger struct {
	srv *httptest.Server

	mu       sync.Mutex // guards the fields below
	entries  map[string]*Entry
	conflict []string // ids received again with a different body: an id was reused
	calls    int
	down     bool            // answer 503 to every call
	hangUp   bool            // store the batch, then drop the connection without answering
	reject   map[string]bool // ids to reject for good
	delay    time.Duration
	onCall   func(n int)
}

// NewLedger starts a ledger on a free loopback port; it stops when t's test ends.
func NewLedger(t interface{ Cleanup(func()) }) *Ledger {
	l := &Ledger{entries: map[string]*Entry{}, reject: map[string]bool{}}
	l.srv = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.srv.Close)
	return l
}

// URL is the backflow endpoint.
func (l *Ledger) URL() string { return l.srv.URL + "/backflow" }

// SetDown makes every call fail with 503 (true) or work again (false).
func (l *Ledger) SetDown(down bool) { l.mu.Lock(); l.down = down; l.mu.Unlock() }

// SetHangUp makes the ledger store each batch and then drop the connection unanswered:
// the client cannot know the outcome and must send again.
func (l *Ledger) SetHangUp(on bool) { l.mu.Lock(); l.hangUp = on; l.mu.Unlock() }

// Reject makes the ledger reject id for good.
func (l *Ledger) Reject(id string) { l.mu.Lock(); l.reject[id] = true; l.mu.Unlock() }

// SetDelay delays every answer.
func (l *Ledger) SetDelay(d time.Duration) { l.mu.Lock(); l.delay = d; l.mu.Unlock() }

// OnCall is called with the call's item count at the start of each call.
func (l *Ledger) OnCall(f func(n int)) { l.mu.Lock(); l.onCall = f; l.mu.Unlock() }

// Entries returns a copy of the ledger.
func (l *Ledger) Entries() map[string]Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Entry, len(l.entries))
	for id, e := range l.entries {
		out[id] = *e
	}
	return out
}

// Conflicts returns the ids received twice with different bodies (must be none).
func (l *Ledger) Conflicts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.conflict...)
}

// Calls counts the calls answered or refused.
func (l *Ledger) Calls() int { l.mu.Lock(); defer l.mu.Unlock(); return l.calls }

func (l *Ledger) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Items []wireItem `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	l.calls++
	down, hang, delay, onCall := l.down, l.hangUp, l.delay, l.onCall
	l.mu.Unlock()
	if onCall != nil {
		onCall(len(req.Items))
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "platform unavailable", http.StatusServiceUnavailable)
		return
	}
	acks := make([]wireAck, 0, len(req.Items))
	l.mu.Lock()
	for _, it := range req.Items {
		if l.reject[it.ID] {
			acks = append(acks, wireAck{ID: it.ID, Status: "rejected", Reason: "record refused: holder 350102199003077898 not registered"})
			continue
		}
		if e, ok := l.entries[it.ID]; ok {
			e.Sends++
			if !bytes.Equal(e.Body, it.Body) || e.Kind != it.Kind {
				l.conflict = append(l.conflict, it.ID)
			}
			acks = append(acks, wireAck{ID: it.ID, Status: "duplicate"})
			continue
		}
		l.entries[it.ID] = &Entry{Kind: it.Kind, Body: it.Body, Sends: 1}
		acks = append(acks, wireAck{ID: it.ID, Status: "accepted"})
	}
	l.mu.Unlock()
	if hang {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"acks": acks})
}

// Submitter sends batches to a Ledger over HTTP.
type Submitter struct {
	URL    string
	Client *http.Client
}

var _ backflow.Submitter = (*Submitter)(nil)

// Submit implements backflow.Submitter. Failures are *platform.Error: retryable when the
// request surely did not arrive (dial failure, 503), unknown otherwise.
func (s *Submitter) Submit(ctx context.Context, items []backflow.Item) ([]backflow.Ack, error) {
	wi := make([]wireItem, len(items))
	for i, it := range items {
		wi[i] = wireItem{ID: it.ID, Kind: it.Kind, Body: it.Body}
	}
	body, err := json.Marshal(map[string]any{"items": wi})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		class := platform.ClassUnknown
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			class = platform.ClassRetryable
		}
		return nil, &platform.Error{Op: "backflow", Class: class, Err: err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return nil, &platform.Error{Op: "backflow", Class: platform.ClassRetryable, Msg: resp.Status}
	case resp.StatusCode != http.StatusOK:
		return nil, &platform.Error{Op: "backflow", Class: platform.ClassUnknown, Msg: resp.Status}
	}
	var out struct {
		Acks []wireAck `json:"acks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, &platform.Error{Op: "backflow", Class: platform.ClassUnverified, Err: fmt.Errorf("answer: %w", err)}
	}
	acks := make([]backflow.Ack, len(out.Acks))
	for i, a := range out.Acks {
		acks[i] = backflow.Ack{ID: a.ID, Reason: a.Reason}
		switch a.Status {
		case "accepted":
			acks[i].Status = backflow.Accepted
		case "duplicate":
			acks[i].Status = backflow.Duplicate
		case "rejected":
			acks[i].Status = backflow.Rejected
		}
	}
	return acks, nil
}

// Fill puts n records into q, entry(i) being the i-th, with 16 concurrent writers so
// that group commit keeps a benchmark's set-up short.
func Fill(tb testing.TB, q *queue.Queue, n int, entry func(i int) queue.Entry) {
	tb.Helper()
	const writers = 16
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := w; i < n; i += writers {
				if _, err := q.Put(context.Background(), entry(i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

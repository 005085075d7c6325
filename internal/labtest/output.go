package labtest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Output is a concurrency-safe writer for a command's output that tests can wait on.
// Everything written is also appended to LogSink.
type Output struct {
	mu      sync.Mutex // guards the fields below
	b       bytes.Buffer
	waiters []waiter
}

type waiter struct {
	s  string
	ch chan struct{}
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b.Write(p)
	_, _ = LogSink().Write(p) // the run's leak check reads it (LogEnv)
	kept := o.waiters[:0]
	for _, w := range o.waiters {
		if strings.Contains(o.b.String(), w.s) {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	o.waiters = kept
	return len(p), nil
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// WaitFor waits until the output contains s, failing the test after 10 seconds.
func (o *Output) WaitFor(t testing.TB, s string) {
	t.Helper()
	o.mu.Lock()
	if strings.Contains(o.b.String(), s) {
		o.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	o.waiters = append(o.waiters, waiter{s, ch})
	o.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("output never contained %q:\n%s", s, o.String())
	}
}

package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sscagent/sscagent/agent/gate"
)

// GateHook is the gate controller of the demo: an HTTP hook on loopback that takes the
// agent's "open" requests (gate kind http) and reports each one on Opened.
type GateHook struct {
	srv    *http.Server
	url    string
	opened chan gate.Trigger
	count  atomic.Uint64
	done   chan struct{}
}

// StartGateHook serves the hook on a free loopback port.
func StartGateHook() (*GateHook, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: gate hook: %w", err)
	}
	g := &GateHook{url: "http://" + ln.Addr().String() + "/open", opened: make(chan gate.Trigger, 64), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /open", g.open)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(g.done)
		_ = g.srv.Serve(ln) // ends with Close
	}()
	return g, nil
}

// URL is the hook's address for the configuration.
func (g *GateHook) URL() string { return g.url }

// Opened reports every opening. Openings beyond its buffer while nobody reads are
// dropped from the channel but still counted.
func (g *GateHook) Opened() <-chan gate.Trigger { return g.opened }

// Count returns the number of openings so far.
func (g *GateHook) Count() uint64 { return g.count.Load() }

func (g *GateHook) open(w http.ResponseWriter, r *http.Request) {
	var t gate.Trigger
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	if err := dec.Decode(&t); err != nil {
		http.Error(w, "body must be the gate trigger JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	g.count.Add(1)
	select {
	case g.opened <- t:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// Close stops the hook.
func (g *GateHook) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := g.srv.Shutdown(ctx)
	<-g.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

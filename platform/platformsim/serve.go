package platformsim

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Serve serves the sandbox on ln until ctx ends, HTTP and HTTPS on the same port: a
// connection whose first byte opens a TLS handshake (0x16) gets TLS with tlsConf, any
// other plain HTTP. A nil tlsConf serves plain HTTP only. Serve returns nil after ctx
// ends and the servers shut down (open connections get 5 seconds).
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConf *tls.Config) error {
	plain := newChanListener(ln.Addr())
	secure := newChanListener(ln.Addr())
	h := s.Handler()
	mk := func() *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			BaseContext: func(net.Listener) context.Context { return ctx }}
	}
	hs, ts := mk(), mk()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- serveErr(hs.Serve(plain)) }()
	go func() {
		defer wg.Done()
		if tlsConf == nil {
			<-secure.done
			return
		}
		errs <- serveErr(ts.Serve(tls.NewListener(secure, tlsConf)))
	}()
	// The dispatcher accepts and sniffs each connection in its own goroutine, so a
	// client that sends nothing cannot stall the others.
	var (
		sniffers sync.WaitGroup
		smu      sync.Mutex // guards sniffing
		sniffing = map[net.Conn]bool{}
		stopping bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					errs <- err
				}
				return
			}
			smu.Lock()
			if stopping {
				smu.Unlock()
				c.Close()
				return
			}
			sniffing[c] = true
			sniffers.Add(1)
			smu.Unlock()
			go func() {
				defer sniffers.Done()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				first, err := br.Peek(1)
				c.SetReadDeadline(time.Time{})
				smu.Lock()
				delete(sniffing, c)
				smu.Unlock()
				if err != nil {
					c.Close()
					return
				}
				pc := &peekedConn{Conn: c, r: br}
				if first[0] == 0x16 && tlsConf != nil {
					secure.deliver(pc)
				} else {
					plain.deliver(pc)
				}
			}()
		}
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
	}
	ln.Close()
	smu.Lock()
	stopping = true
	for c := range sniffing {
		c.Close() // a client that never sent a byte
	}
	smu.Unlock()
	sniffers.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	_ = ts.Shutdown(sctx)
	plain.Close()
	secure.Close()
	wg.Wait()
	return first
}

func serveErr(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// peekedConn is a connection whose first bytes were read ahead.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener hands connections from the dispatcher to an http.Server.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newChanListener(a net.Addr) *chanListener {
	return &chanListener{addr: a, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

var (
	_ net.Listener = (*chanListener)(nil)
	_ net.Conn     = (*peekedConn)(nil)
)

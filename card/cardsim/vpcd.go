package cardsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// vpcd control messages (one byte, from pcscd's vpcd driver to the card).
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// ServeOptions configures Serve. The zero value redials after a dropped connection.
type ServeOptions struct {
	// OnConnect is called each time the card is connected to vpcd (inserted).
	OnConnect func()
	// Once returns when the connection drops instead of dialing again.
	Once bool
	// RedialEvery is the pause between connection attempts; default 50ms.
	RedialEvery time.Duration
}

// Serve inserts icc into the vpcd virtual reader listening at addr (host:port; the
// vsmartcard-vpcd driver of pcscd) and answers it until ctx ends, which removes the card
// (Serve returns nil), or until icc pulls itself out (Serve returns ErrPulled). When the
// connection drops because pcscd stopped, Serve dials again until ctx ends: the card
// stays in its reader across service restarts. Inserting means connecting, so there is
// one card per vpcd port.
//
// The vpcd protocol: every message is a 2-byte big-endian length and that many bytes.
// From vpcd, one byte is a control code (00 power off, 01 power on, 02 reset, 04 get
// ATR: answered with the ATR), anything longer a command APDU, answered with the
// response APDU. pcscd asks for the ATR every 400 ms to see whether the card is still
// there, including between the commands of a read, so getting the ATR does not reset.
func Serve(ctx context.Context, addr string, icc ICC, o ServeOptions) error {
	if o.RedialEvery <= 0 {
		o.RedialEvery = 50 * time.Millisecond
	}
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			t := time.NewTimer(o.RedialEvery)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		if o.OnConnect != nil {
			o.OnConnect()
		}
		err = serveConn(ctx, conn.(*net.TCPConn), icc)
		conn.Close()
		icc.PowerOff()
		switch {
		case errors.Is(err, ErrPulled):
			return ErrPulled
		case ctx.Err() != nil:
			return nil
		case o.Once:
			return err
		}
	}
}

func serveConn(ctx context.Context, conn *net.TCPConn, icc ICC) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	atr := icc.Reset()
	var hdr [2]byte
	buf := make([]byte, 0, 4+65538)
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return fmt.Errorf("cardsim: vpcd connection: %w", err)
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		quickAck(conn)
		if _, err := io.ReadFull(conn, msg); err != nil {
			return fmt.Errorf("cardsim: vpcd connection: %w", err)
		}
		var reply []byte
		if len(msg) == 1 {
			switch msg[0] {
			case vpcdPowerOff:
				icc.PowerOff()
			case vpcdPowerOn, vpcdReset:
				atr = icc.Reset()
			case vpcdGetATR:
				reply = atr
			}
			if reply == nil {
				continue // control codes other than get ATR have no answer
			}
		} else {
			r, err := icc.Process(msg)
			if err != nil {
				return err
			}
			reply = r
		}
		if len(reply) > 0xFFFF {
			return fmt.Errorf("cardsim: reply of %d bytes", len(reply))
		}
		// One write per message: the header and body in one segment.
		buf = binary.BigEndian.AppendUint16(buf[:0], uint16(len(reply)))
		buf = append(buf, reply...)
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("cardsim: vpcd connection: %w", err)
		}
	}
}

// Inserted is a card kept in a vpcd reader by Insert.
type Inserted struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Serve's result, set before done is closed
}

// Insert serves icc in the vpcd reader at addr from a goroutine of its own (Serve) until
// Remove. Done is closed when the card left by itself (it pulled itself out).
func Insert(addr string, icc ICC, o ServeOptions) *Inserted {
	ctx, cancel := context.WithCancel(context.Background())
	in := &Inserted{cancel: cancel, done: make(chan struct{})}
	go func() {
		in.err = Serve(ctx, addr, icc, o)
		close(in.done)
	}()
	return in
}

// Done is closed once the card is out of the reader.
func (in *Inserted) Done() <-chan struct{} { return in.done }

// Remove takes the card out of the reader and waits until it is; it returns ErrPulled if
// the card had pulled itself out before. It may be called more than once.
func (in *Inserted) Remove() error {
	in.cancel()
	<-in.done
	return in.err
}

package apdu

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Transmitter sends one raw command APDU and returns the raw response. A drivers.Card
// is one.
type Transmitter interface {
	Transmit(ctx context.Context, command []byte) ([]byte, error)
}

// ErrExtendedUnsupported: a command needs extended length and the channel was not
// opened for it (the reader or protocol cannot carry it).
var ErrExtendedUnsupported = errors.New("apdu: extended length not supported on this channel")

// ChannelOptions configures a Channel. The zero value is a short-length channel.
type ChannelOptions struct {
	// Extended allows commands with extended length fields (Nc > 255 or Ne > 256).
	// Leave it false for T=0 and for readers that do not support them.
	Extended bool
}

// maxGetResponse bounds the GET RESPONSE chain of one command, so a card that keeps
// answering 61xx cannot hold the channel forever.
const maxGetResponse = 64

// Channel sends commands over a Transmitter: it follows 61xx with GET RESPONSE and
// re-issues a command answered 6Cxx with the right Le (ISO/IEC 7816-3 T=0 rules, also
// seen on T=1 cards), and counts every exchange. A Channel is safe for concurrent use;
// each command and its follow-ups run under one lock.
type Channel struct {
	t   Transmitter
	ext bool

	mu sync.Mutex // guards n and serialises exchanges
	n  int
}

// NewChannel returns a channel over t.
func NewChannel(t Transmitter, o ChannelOptions) *Channel {
	return &Channel{t: t, ext: o.Extended}
}

// Exchanges returns the number of raw exchanges (APDUs sent) so far, including GET
// RESPONSE and re-issued commands.
func (c *Channel) Exchanges() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Send sends cmd and returns the complete response: data gathered over any GET RESPONSE
// chain and the final status word. A status word other than 9000 is not an error here;
// transport failures are.
func (c *Channel) Send(ctx context.Context, cmd Command) (Response, error) {
	if cmd.Extended() && !c.ext {
		return Response{}, fmt.Errorf("%s: %w", cmd.Name(), ErrExtendedUnsupported)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.exchange(ctx, cmd)
	if err != nil {
		return Response{}, err
	}
	if r.SW.SW1() == 0x6C {
		// Wrong Le: the card says how many bytes it has. Re-issue once.
		cmd.Ne = int(r.SW.SW2())
		if cmd.Ne == 0 {
			cmd.Ne = MaxShort
		}
		if r, err = c.exchange(ctx, cmd); err != nil {
			return Response{}, err
		}
	}
	data := r.Data
	for i := 0; r.SW.SW1() == 0x61; i++ {
		if i == maxGetResponse {
			return Response{}, fmt.Errorf("apdu: %s: more than %d GET RESPONSE rounds", cmd.Name(), maxGetResponse)
		}
		ne := int(r.SW.SW2())
		if ne == 0 {
			ne = MaxShort
		}
		// GET RESPONSE is an interindustry command (CLA 00), also after a
		// proprietary-class command (80, BF) as PSAMs expect.
		get := Command{CLA: 0x00, INS: 0xC0, Ne: ne}
		if r, err = c.exchange(ctx, get); err != nil {
			return Response{}, err
		}
		if r.SW.SW1() == 0x6C { // GET RESPONSE with a wrong Le
			get.Ne = int(r.SW.SW2())
			if get.Ne == 0 {
				get.Ne = MaxShort
			}
			if r, err = c.exchange(ctx, get); err != nil {
				return Response{}, err
			}
		}
		if len(data)+len(r.Data) > MaxExtended {
			return Response{}, fmt.Errorf("apdu: %s: response longer than %d bytes", cmd.Name(), MaxExtended)
		}
		data = append(data, r.Data...)
	}
	r.Data = data
	return r, nil
}

// Do sends cmd and returns the response data when the status word is 9000, or a
// *StatusError otherwise.
func (c *Channel) Do(ctx context.Context, cmd Command) ([]byte, error) {
	r, err := c.Send(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if err := r.Err(cmd); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// exchange sends one raw APDU; c.mu is held.
func (c *Channel) exchange(ctx context.Context, cmd Command) (Response, error) {
	b, err := cmd.Bytes()
	if err != nil {
		return Response{}, err
	}
	if err := ctx.Err(); err != nil {
		return Response{}, fmt.Errorf("apdu: %s: %w", cmd.Name(), err)
	}
	c.n++
	raw, err := c.t.Transmit(ctx, b)
	if err != nil {
		return Response{}, fmt.Errorf("apdu: %s: %w", cmd.Name(), err)
	}
	r, err := ParseResponse(raw)
	if err != nil {
		return Response{}, fmt.Errorf("apdu: %s: %w", cmd.Name(), err)
	}
	return r, nil
}

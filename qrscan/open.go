package qrscan

import (
	"context"
	"fmt"
	"io"

	"github.com/sscagent/sscagent/qrscan/hid"
	"github.com/sscagent/sscagent/qrscan/serial"
)

// openerFor returns the device opener for a configuration's kind.
func openerFor(c Config) (Opener, error) {
	switch c.Kind {
	case KindSerial:
		return OpenerFunc(func(context.Context) (io.ReadCloser, error) {
			p, err := serial.Open(c.Serial)
			if err != nil {
				return nil, err
			}
			return p, nil
		}), nil
	case KindHID:
		return OpenerFunc(func(context.Context) (io.ReadCloser, error) {
			d, err := hid.Open(c.HID, hid.Roots{})
			if err != nil {
				return nil, err
			}
			return d, nil
		}), nil
	case KindStdin:
		return OpenerFunc(func(context.Context) (io.ReadCloser, error) { return openStdin() }), nil
	}
	return nil, fmt.Errorf("qrscan: unknown scanner kind %q", c.Kind)
}

// EndAtEOF marks r as a finite source (a pipe, a file, standard input): its io.EOF
// becomes ErrEnded, so the scanner stops instead of reopening it.
func EndAtEOF(r io.ReadCloser) io.ReadCloser { return ended{r} }

type ended struct{ io.ReadCloser }

func (e ended) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if err == io.EOF {
		err = ErrEnded
	}
	return n, err
}

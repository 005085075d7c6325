//go:build !linux

package main

import (
	"context"
	"errors"
)

type pty struct{}

func newPty(string) (*pty, error) {
	return nil, errors.New("--pty needs Linux; use --port with a socat pty or a serial port")
}

func (p *pty) WaitOpened(context.Context) error { return nil }
func (p *pty) Write(b []byte) (int, error)      { return 0, errors.ErrUnsupported }
func (p *pty) Close() error                     { return nil }

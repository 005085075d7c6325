package readers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/psam"
)

// ReadOptions adjust one read.
type ReadOptions struct {
	// SkipAuth reads without internal authentication (diagnostics, card emulators
	// without the national keys). The result says Authenticated false.
	SkipAuth bool
	// TwoStep, when set, authenticates the card through this exchange only (no PSAM, no
	// restart): the caller drives the national iReadCardBas_HSM_Step1/Step2 itself, so
	// it receives the Step 1 string and answers with pKey within the read's time.
	TwoStep psam.InternalAuthenticator
}

// Read reads the card in a holder-card reader (iReadCardBas): the result, or a
// *card.Error with the national code and prompt. It is bounded by cards.readTimeout.
func (m *Manager) Read(ctx context.Context, name string, o ReadOptions) (*card.Result, error) {
	res, err := m.read(ctx, name, o)
	if err != nil {
		m.mu.Lock()
		m.lastErr, m.lastErrAt = err, time.Now()
		m.mu.Unlock()
		return nil, err
	}
	return res, nil
}

// holderWithCard returns the reader system for a read in the holder-card reader name,
// or the national error of why it cannot be: no reader service, no such reader, not a
// holder-card reader, no card.
func (m *Manager) holderWithCard(name string) (drivers.System, error) {
	m.mu.Lock()
	sys, r := m.sys, m.readers[name]
	var info ReaderInfo
	if r != nil {
		info = r.info
	}
	m.mu.Unlock()
	switch {
	case sys == nil:
		return nil, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptService, Op: "read",
			Err: fmt.Errorf("reader service not connected: %w", drivers.ErrNoService)}
	case r == nil:
		return nil, &card.Error{Code: card.CodeReaderConnect, Prompt: card.PromptNoReader, Op: "read",
			Err: fmt.Errorf("%q: %w", name, drivers.ErrNoReader)}
	case info.Role != RoleHolder:
		return nil, &card.Error{Code: card.CodeBadParameter, Prompt: card.PromptNoReader, Op: "read",
			Err: fmt.Errorf("%q is not a holder-card reader (role %q)", name, info.Role)}
	case !info.Present:
		return nil, &card.Error{Code: card.CodeNoCard, Op: "read", Err: fmt.Errorf("%q: %w", name, drivers.ErrNoCard)}
	}
	return sys, nil
}

func (m *Manager) read(ctx context.Context, name string, o ReadOptions) (*card.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ReadTimeout.D())
	defer cancel()
	sys, err := m.holderWithCard(name)
	if err != nil {
		return nil, err
	}
	var ps *psamSession
	var psamErr error
	if o.TwoStep == nil {
		ps, psamErr = m.psamFor(ctx, sys)
	}
	c, err := sys.Connect(ctx, name, false)
	if err != nil {
		return nil, card.AsError("connect", err)
	}
	defer c.Close(true)
	opts := m.readOptions(ps, o)
	res, err := card.Read(ctx, c, c.ATR(), opts)
	if err != nil {
		var ce *card.Error
		if errors.As(err, &ce) && ce.Code == card.CodeNoPSAM && ce.Prompt == 0 && psamErr != nil {
			// No PSAM to use because the one inserted was refused or broken: say so.
			ce.Prompt = card.AsError("psam", psamErr).PromptCode()
		}
		return nil, err
	}
	res.Reader = name
	return res, nil
}

// readOptions are the card.Options of a read with the PSAM session ps (nil: none).
func (m *Manager) readOptions(ps *psamSession, o ReadOptions) card.Options {
	opts := card.Options{SkipAuth: o.SkipAuth, AllowTestCards: m.o.TestTerminal, DeviceNo: m.cfg.DeviceNo,
		AuthAttempts: m.cfg.HSM.Attempts}
	if ps != nil {
		opts.Authorities = append(opts.Authorities, ps.p)
		opts.TerminalNo = ps.p.Info().TerminalNo
	}
	switch {
	case o.TwoStep != nil:
		// The caller's exchange has the whole read's time; a second Step 1 would
		// reach nobody, so no restart.
		opts.AuthAttempts = 1
		opts.Authorities = []card.Authority{&psam.HSM{Auth: o.TwoStep, Timeout: m.cfg.ReadTimeout.D(), DeviceNo: m.cfg.DeviceNo}}
	case m.o.HSM != nil && m.cfg.HSM.Enabled:
		opts.Authorities = append(opts.Authorities, &psam.HSM{Auth: m.o.HSM, Timeout: m.cfg.HSM.Timeout.D(), DeviceNo: m.cfg.DeviceNo})
	}
	return opts
}

package readers

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers"
	"github.com/sscagent/sscagent/psam"
)

type psamSession struct {
	reader string
	seq    uint64
	card   drivers.Card
	p      *psam.PSAM
}

// wantPSAMLocked is the PSAM reader to use: the first (by name) PSAM slot with a card.
func (m *Manager) wantPSAMLocked() *reader {
	var names []string
	for n, r := range m.readers {
		if r.info.Role == RolePSAM && r.info.Present {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return m.readers[names[0]]
}

// openPSAM connects to the PSAM exclusively and reads its files. A failure is kept (and
// shown in Health) until the PSAM is reinserted, or retried by a read after a while.
func (m *Manager) openPSAM(ctx context.Context, sys drivers.System, name string, seq uint64) {
	octx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := m.connectPSAM(octx, sys, name)
	m.mu.Lock()
	stale := m.readers[name] == nil || m.readers[name].seq != seq || m.ps != nil
	if err == nil && !stale {
		s.seq = seq
		m.ps = s
		m.psamErr, m.psamSlot, m.psamSeq = nil, "", 0
	} else if err != nil {
		m.psamErr, m.psamSlot, m.psamSeq, m.psamTried = err, name, seq, time.Now()
		m.lastErr, m.lastErrAt = err, time.Now()
	}
	m.notifyLocked()
	m.mu.Unlock()
	switch {
	case err != nil:
		m.log.Warn("PSAM not usable", "reader", name, "err", err)
		m.emit(Event{Kind: PSAMFailed, Reader: name, Role: RolePSAM, Err: err})
	case stale:
		_ = s.card.Close(true)
	default:
		info := s.p.Info()
		m.log.Info("PSAM ready", "reader", name, "terminalNo", info.TerminalNo, "serial", info.Serial, "test", info.Test)
		m.emit(Event{Kind: PSAMReady, Reader: name, Role: RolePSAM, ATR: info.ATR, PSAM: &info})
	}
}

func (m *Manager) connectPSAM(ctx context.Context, sys drivers.System, name string) (*psamSession, error) {
	c, err := sys.Connect(ctx, name, true)
	if err != nil {
		return nil, &card.Error{Code: card.CodeNoPSAM, Prompt: card.PromptPSAMFailed, Op: "psam connect", Err: err}
	}
	p, err := psam.Open(ctx, c, c.ATR(), m.cfg.PSAM)
	if err != nil {
		_ = c.Close(false)
		return nil, err
	}
	if p.Info().Test && !m.o.TestTerminal {
		_ = c.Close(false)
		return nil, &card.Error{Code: card.CodeNoPSAM, Prompt: card.PromptTestPSAM, Op: "psam open",
			Err: errors.New("test PSAM refused: terminal.test is off")}
	}
	return &psamSession{reader: name, card: c, p: p}, nil
}

// psamFor returns the PSAM session to use, retrying a failed PSAM once in a while.
func (m *Manager) psamFor(ctx context.Context, sys drivers.System) (*psamSession, error) {
	m.mu.Lock()
	ps, perr, slot, seq, tried := m.ps, m.psamErr, m.psamSlot, m.psamSeq, m.psamTried
	retry := ps == nil && perr != nil && time.Since(tried) > 5*time.Second && card.AsError("", perr).PromptCode() != card.PromptTestPSAM
	m.mu.Unlock()
	if retry {
		m.openPSAM(ctx, sys, slot, seq)
		m.mu.Lock()
		ps, perr = m.ps, m.psamErr
		m.mu.Unlock()
	}
	return ps, perr
}

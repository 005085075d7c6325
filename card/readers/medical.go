package readers

import (
	"context"

	"github.com/sscagent/sscagent/card"
	"github.com/sscagent/sscagent/drivers/apdu"
)

// CardSession is a holder card read and held for more commands (the DF04 purse of a
// medical settlement): the read's result, the connection, and the purchase authority
// to use (the PSAM when one is open, else the HSM variant, else nil).
type CardSession struct {
	Result   *card.Result
	Card     apdu.Transmitter
	ATR      []byte
	Purchase card.PurchaseAuthority
	// TerminalNo is the 终端机编号: the PSAM's, or 000000000000 without one.
	TerminalNo string
}

// WithCard reads the card in a holder reader as Read does (internal authentication by
// the PSAM or the HSM) and, on the same connection, runs fn; the card stays powered and
// selected between the two. The read and fn together are bounded by cards.readTimeout.
func (m *Manager) WithCard(ctx context.Context, name string, fn func(ctx context.Context, s *CardSession) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.ReadTimeout.D())
	defer cancel()
	sys, err := m.holderWithCard(name)
	if err != nil {
		return err
	}
	ps, _ := m.psamFor(ctx, sys)
	c, err := sys.Connect(ctx, name, false)
	if err != nil {
		return card.AsError("connect", err)
	}
	defer c.Close(true)
	opts := m.readOptions(ps, ReadOptions{})
	res, err := card.Read(ctx, c, c.ATR(), opts)
	if err != nil {
		return err
	}
	res.Reader = name
	s := &CardSession{Result: res, Card: c, ATR: c.ATR(), TerminalNo: "000000000000"}
	switch {
	case ps != nil:
		s.Purchase, s.TerminalNo = ps.p, ps.p.Info().TerminalNo
	case m.o.Purchase != nil && m.cfg.HSM.Enabled:
		s.Purchase = m.o.Purchase
	}
	return fn(ctx, s)
}

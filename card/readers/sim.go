package readers

import (
	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers/simreader"
)

// Reader names of driver sim.
const (
	SimCardReader = "Virtual Card Reader 00 00"
	SimPSAMSlot   = "Virtual PSAM Slot 00 00"
)

// newSimHub builds driver sim's virtual readers: a holder reader with the first
// configured card and a PSAM slot with the virtual PSAM.
func newSimHub(c SimConfig) (*simreader.Hub, error) {
	hub := simreader.New(SimCardReader, SimPSAMSlot)
	if len(c.Cards) > 0 {
		icc, err := cardsim.LoadCard(c.Cards[0])
		if err != nil {
			return nil, err
		}
		if err := hub.Insert(SimCardReader, icc); err != nil {
			return nil, err
		}
	}
	if c.PSAM {
		p, err := cardsim.NewPSAM(cardsim.PSAMOptions{})
		if err != nil {
			return nil, err
		}
		if err := hub.Insert(SimPSAMSlot, p); err != nil {
			return nil, err
		}
	}
	return hub, nil
}

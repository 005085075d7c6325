package readers

import (
	"fmt"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/drivers/simreader"
)

// Reader names of driver sim.
const (
	SimCardReader = "Virtual Card Reader 00 00"
	SimPSAMSlot   = "Virtual PSAM Slot 00 00"
)

// maxSimReaders bounds sim.readers.
const maxSimReaders = 4

// SimHolderReader is the name of driver sim's holder reader i (0-based): reader 0 is
// SimCardReader.
func SimHolderReader(i int) string { return fmt.Sprintf("Virtual Card Reader %02d 00", i) }

// newSimHub builds driver sim's virtual readers: the holder readers (the first with the
// first configured card) and a PSAM slot with the virtual PSAM.
func newSimHub(c SimConfig) (*simreader.Hub, error) {
	names := []string{SimCardReader}
	for i := 1; i < c.Readers && i < maxSimReaders; i++ {
		names = append(names, SimHolderReader(i))
	}
	hub := simreader.New(append(names, SimPSAMSlot)...)
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

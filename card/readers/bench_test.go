package readers_test

import (
	"context"
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
)

// benchRead reads the card in reader b.N times and reports the commands per read.
func benchRead(b *testing.B, m *readers.Manager, reader string) {
	b.Helper()
	ctx := context.Background()
	var apdus, psamAPDUs int
	b.ReportAllocs()
	for b.Loop() {
		res, err := m.Read(ctx, reader, readers.ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		apdus, psamAPDUs = res.APDUs, res.PSAMAPDUs
	}
	b.ReportMetric(float64(apdus), "apdus/read")
	b.ReportMetric(float64(psamAPDUs), "psam-apdus/read")
}

// BenchmarkReadInProcess reads the virtual cards with the virtual PSAM through the
// in-process readers (simreader): the card path's own cost, without PC/SC.
func BenchmarkReadInProcess(b *testing.B) {
	for _, c := range []struct{ name, profile string }{{"gen2-3DES", "lisi"}, {"gen3-SM4", "zhangsan"}} {
		b.Run(c.name, func(b *testing.B) {
			r := newRig(b, readers.Options{TestTerminal: true})
			r.insertPSAM(cardsim.PSAMOptions{})
			r.insert(contact, c.profile)
			benchRead(b, r.m, contact)
		})
	}
}

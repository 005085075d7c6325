//go:build cgo && linux

package readers_test

import (
	"testing"

	"github.com/sscagent/sscagent/card/cardsim"
	"github.com/sscagent/sscagent/card/readers"
)

// BenchmarkReadPCSC reads the virtual cards with the virtual PSAM over a real pcscd
// and the vpcd driver: wall time and commands per read as a terminal sees them.
func BenchmarkReadPCSC(b *testing.B) {
	for _, c := range []struct{ name, profile string }{{"gen2-3DES", "lisi"}, {"gen3-SM4", "zhangsan"}} {
		b.Run(c.name, func(b *testing.B) {
			l := newLab(b, readers.Options{TestTerminal: true})
			l.psam(cardsim.PSAMOptions{})
			l.card("Holder", 0, c.profile)
			benchRead(b, l.m, holder0)
		})
	}
}

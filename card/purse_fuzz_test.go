package card_test

import (
	"encoding/hex"
	"testing"

	"github.com/sscagent/sscagent/card"
)

// FuzzParseLogRecord: any bytes give a DF04/EF08 entry or an error, never a panic, and
// an entry's fields are what the record says.
func FuzzParseLogRecord(f *testing.F) {
	rec, _ := hex.DecodeString("0000323501000000012026010510203000000E42000004B000002260")
	f.Add(rec)
	f.Add([]byte{})
	f.Add(make([]byte, card.LogRecordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := card.ParseLogRecord(b)
		if err != nil {
			return
		}
		if len(b) != card.LogRecordSize || len(e.TerminalNo) != 12 || len(e.Time) != 14 || e.Type != b[2] {
			t.Fatalf("accepted %X as %+v", b, e)
		}
	})
}

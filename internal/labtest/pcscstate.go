//go:build cgo && linux

package labtest

import (
	"testing"
	"time"

	"github.com/ebfe/scard"
)

// WaitEmpty waits until pcscd reports no card in the reader (a PC/SC reader name, see
// Reader). A card taken out of a vpcd slot is noticed at pcscd's next poll of the
// slot, up to 400 ms later; a card put in before that is taken for the one that was
// there, and its first transaction fails. Tests call it after taking a card out of a
// shared pcscd's slot, so the next test (or the next card) finds the slot empty.
func WaitEmpty(t testing.TB, reader string) {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Errorf("labtest: PC/SC context: %v", err)
		return
	}
	defer ctx.Release()
	st := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ctx.GetStatusChange(st, 500*time.Millisecond); err != nil && err != scard.ErrTimeout {
			t.Errorf("labtest: state of %q: %v", reader, err)
			return
		}
		if st[0].EventState&scard.StateEmpty != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("labtest: pcscd still sees a card in %q 10s after it was taken out", reader)
			return
		}
		st[0].CurrentState = st[0].EventState &^ scard.StateChanged
	}
}

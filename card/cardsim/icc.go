package cardsim

import (
	"errors"

	"github.com/sscagent/sscagent/drivers/apdu"
)

// ICC is a card that can sit in a reader: the virtual card and PSAM of this package,
// and anything else with the same three methods. Calls come from one reader at a time.
type ICC interface {
	// Reset powers the card up (cold or warm reset) and returns its ATR. Volatile state
	// (selection, security status, challenge) is lost.
	Reset() []byte
	// PowerOff removes power; volatile state is lost.
	PowerOff()
	// Process answers one command APDU with a response APDU. ErrPulled asks the reader
	// to act as if the card was removed during the command (no answer).
	Process(command []byte) ([]byte, error)
}

// ErrPulled is returned by Process when the card is to be pulled out mid-command.
var ErrPulled = errors.New("cardsim: card pulled out")

// t0 is the T=0 response behaviour shared by the emulators: a command with a data field
// that produces response data answers 61xx, and GET RESPONSE fetches it.
type t0 struct {
	on      bool
	pending []byte
}

func sw(s apdu.SW) []byte { return []byte{byte(s >> 8), byte(s)} }

// reply answers cmd with data and 9000, or 61xx when T=0 requires the data to be fetched
// with GET RESPONSE (cmd had a data field). Le shorter than the data is 6Cxx.
func (t *t0) reply(cmd apdu.Command, data []byte) []byte {
	if t.on && len(cmd.Data) > 0 && len(data) > 0 {
		t.pending = data
		return sw(apdu.SW(0x6100 | uint16(min(len(data), 256)&0xFF)))
	}
	if cmd.Ne > 0 && cmd.Ne < len(data) {
		return sw(apdu.SW(0x6C00 | uint16(len(data)&0xFF)))
	}
	return append(append([]byte(nil), data...), 0x90, 0x00)
}

// getResponse answers GET RESPONSE from the pending data.
func (t *t0) getResponse(cmd apdu.Command) []byte {
	if t.pending == nil {
		return sw(apdu.SWConditions)
	}
	n := min(len(t.pending), 256)
	if cmd.Ne != n && !(cmd.Ne == 256 && n == 256) {
		return sw(apdu.SW(0x6C00 | uint16(n&0xFF)))
	}
	out := append(append([]byte(nil), t.pending[:n]...), 0x90, 0x00)
	t.pending = t.pending[n:]
	if len(t.pending) > 0 {
		rest := min(len(t.pending), 256)
		out[len(out)-2], out[len(out)-1] = 0x61, byte(rest)
	} else {
		t.pending = nil
	}
	return out
}

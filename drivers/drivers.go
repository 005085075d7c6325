// Package drivers is the contract between sscagent and a card reader subsystem: PC/SC
// (drivers/pcsc, through pcscd or winscard) or the in-process simulator
// (drivers/simreader, for the demo and unit tests). It holds only the small interfaces
// an implementation provides and the errors it returns; the packages that use readers
// (card/readers, psam, card) define the narrower interfaces they need themselves.
//
// # Concepts
//
// A System is one connection to the reader subsystem (a PC/SC context). It lists the
// readers, reports changes through Watch (reader attached or removed, card inserted or
// removed) and connects to the card in a reader. When the subsystem goes away (pcscd
// stopped or restarted) every call returns ErrNoService; the owner closes the System and
// opens a new one, with backoff, until the service is back.
//
// A Card is a connection to the card in one reader. Transmit sends one raw command APDU
// and returns the raw response (data and status word); ISO 7816 chaining (61xx, 6Cxx),
// status words and counting are the job of drivers/apdu. Exchanges with the readers of
// one System are serialised per reader, so a PSAM and a holder card in two slots of one
// reader never interleave.
//
// # Errors
//
// Implementations wrap their own failures around the sentinels below, so callers can
// test with errors.Is without knowing the implementation. Driver-specific types (scard
// errors) never escape: they appear only in the message text.
package drivers

import (
	"context"
	"errors"
)

// System is one connection to a reader subsystem. Watch must not be called
// concurrently with itself; every other method may be called from any goroutine.
type System interface {
	// Watch returns the state of every reader. The first call returns at once; each
	// later call blocks until a reader was attached or removed, or the card state of a
	// reader changed, since the previous call returned, or until ctx is done (then it
	// returns ctx's error). Blocking costs no CPU: implementations wait on the
	// subsystem's own notification and interrupt it when ctx ends.
	Watch(ctx context.Context) ([]ReaderState, error)
	// Connect connects to the card in reader. Exclusive asks for sole use of the card
	// while connected (a PSAM); otherwise other programs may share it between the
	// transactions of the returned Card.
	Connect(ctx context.Context, reader string, exclusive bool) (Card, error)
	// Close releases the connection; an interrupted Watch returns. Cards connected
	// through the System stay usable until they are closed or fail.
	Close() error
}

// ReaderState is what a System knows about one reader.
type ReaderState struct {
	// Name is the reader's name as the subsystem reports it, stable while attached
	// (PC/SC: "Vendor Model 00 00"). Configuration assigns roles by name pattern.
	Name string
	// Present: a card is in the reader (or in the field of a contactless reader).
	Present bool
	// Mute: a card is present but did not answer reset.
	Mute bool
	// Exclusive: another connection holds the card exclusively.
	Exclusive bool
	// ATR is the card's answer to reset when Present.
	ATR []byte
	// Insertions counts the card insertions the subsystem has seen in this reader
	// (PC/SC's event counter, modulo 65536). It changes on every insertion, so a card
	// pulled and pushed back between two Watch calls is still seen as a new card.
	Insertions uint16
}

// Card is a connection to the card in one reader.
type Card interface {
	// Transmit sends one command APDU and returns the response APDU (data and the
	// two status bytes). ctx bounds the wait: when it ends first, Transmit returns
	// ctx's error, and the connection must be closed because the exchange may still
	// be in progress.
	Transmit(ctx context.Context, command []byte) ([]byte, error)
	// ATR is the answer to reset seen when the connection was made.
	ATR() []byte
	// Close ends the connection. Reset asks for the card to be reset (a holder card
	// after a read: the security state gained during the read is cleared); otherwise
	// the card is left as it is (a PSAM).
	Close(reset bool) error
}

// Errors of every implementation. Wrapped errors keep the sentinel (errors.Is) and name
// the operation and reader in their text.
var (
	// ErrNoService: the reader subsystem is not running or was restarted (pcscd
	// stopped, the Windows smart card service stopped). Close the System and open a new
	// one after a backoff.
	ErrNoService = errors.New("reader service not available")
	// ErrNoReader: no reader of that name is attached (it was unplugged, or never was).
	ErrNoReader = errors.New("reader not attached")
	// ErrNoCard: the reader holds no card.
	ErrNoCard = errors.New("no card in the reader")
	// ErrCardRemoved: the card was removed while connected; whatever was in progress
	// did not complete.
	ErrCardRemoved = errors.New("card removed")
	// ErrCardReset: another program reset the card while connected; the card state
	// (selected application, security status) is lost.
	ErrCardReset = errors.New("card reset by another program")
	// ErrCardMute: the card does not answer (no ATR, or no response to a command).
	ErrCardMute = errors.New("card does not respond")
	// ErrReaderBusy: another program holds the card or reader exclusively.
	ErrReaderBusy = errors.New("reader in use by another program")
	// ErrClosed: the System or Card was closed.
	ErrClosed = errors.New("reader connection closed")
	// ErrUnsupported: the driver is not available in this build or on this platform
	// (PC/SC without cgo on Linux).
	ErrUnsupported = errors.New("reader driver not available in this build")
)

// Removed reports whether err means the card or its reader went away mid-operation:
// a clear "insert the card again" for the holder, never a half-read success.
func Removed(err error) bool {
	return errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrNoCard) ||
		errors.Is(err, ErrNoReader) || errors.Is(err, ErrCardReset)
}

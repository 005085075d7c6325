// Package pcsc is the PC/SC reader driver: pcscd through libpcsclite on Linux, winscard
// on Windows, through github.com/ebfe/scard. It is the only cgo in sscagent; on Linux a
// build without cgo has Open return drivers.ErrUnsupported, and everything else builds.
//
// Open returns a drivers.System. Watch waits in SCardGetStatusChange on every reader and
// on the PnP notification pseudo-reader (\\?PnP?\Notification), so attaching or
// removing a reader and inserting or removing a card wake it without any polling; it
// is interrupted with SCardCancel from the side that stops it. When pcscd stops or
// restarts, every call fails with drivers.ErrNoService: close the System and Open a new
// one once the service is back.
//
// Each card connection has a PC/SC context of its own, so a Watch blocked in the
// daemon never delays an exchange. A shared connection (a holder card) holds a PC/SC
// transaction for its lifetime, so no other program's commands interleave with a read;
// an exclusive one (a PSAM) keeps the card to itself. Exchanges are serialised per
// reader.
package pcsc

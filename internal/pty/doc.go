// Package pty opens pseudo-terminals in raw mode: the stand-in for a serial (USB CDC)
// QR scanner in the demo and in the sandbox's virtual scanner. The agent opens the
// slave as it opens any serial port; whoever holds the master writes what the scanner
// would send.
package pty

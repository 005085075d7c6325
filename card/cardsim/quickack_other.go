//go:build !linux

package cardsim

import "net"

// quickAck is Linux-only; elsewhere each vpcd message may wait for a delayed ACK.
func quickAck(*net.TCPConn) {}

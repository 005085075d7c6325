//go:build !linux

package mqttc

import "net"

// withQuickAck is Linux only; elsewhere the connection is used as it is.
func withQuickAck(c net.Conn) net.Conn { return c }

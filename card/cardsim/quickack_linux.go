package cardsim

import (
	"net"
	"syscall"
)

// quickAck re-arms TCP_QUICKACK before a read. Debian's vpcd sends the 2-byte header and
// the body in two writes without TCP_NODELAY; without an immediate ACK from this side
// each message would wait for the delayed-ACK timer (44 ms per APDU, lab.md §1). The
// flag is not sticky, hence before every read.
func quickAck(c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

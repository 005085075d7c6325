package mqttc

import (
	"net"
	"syscall"
)

// quickAckConn asks Linux to acknowledge received segments at once (TCP_QUICKACK)
// after every read. Linux clears the flag by itself, hence the repetition. Brokers
// that leave Nagle's algorithm on (mosquitto without set_tcp_nodelay) hold a PUBACK
// until their previous segment is acknowledged; a delayed ACK here would cost about
// 40 ms per acknowledged publish.
type quickAckConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{TCPConn: tc, raw: raw}
	q.quickAck()
	return q
}

func (q *quickAckConn) quickAck() {
	_ = q.raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	n, err := q.TCPConn.Read(p)
	q.quickAck()
	return n, err
}

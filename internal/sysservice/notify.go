package sysservice

import (
	"net"
	"os"
)

// Notify sends a systemd notify message ("READY=1", "STOPPING=1", "STATUS=...") when
// the service manager asked for them through NOTIFY_SOCKET. It is a no-op otherwise and
// never fails the caller: a lost notification only delays systemd's view.
func Notify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}

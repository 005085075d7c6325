package sysservice

import (
	"net"
	"os"
	"strconv"
	"time"
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

// WatchdogInterval is how often the service must send WATCHDOG=1: half of the
// WatchdogSec= that systemd passed in WATCHDOG_USEC, or 0 when no watchdog is armed for
// this process (WATCHDOG_PID names another one, or the variables are absent or bad).
func WatchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

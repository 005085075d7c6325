package localapi

import (
	"errors"
	"net"
)

// listenSocket is not offered on Windows (configuration validation refuses
// localapi.socket.path there).
func listenSocket(string, string) (net.Listener, error) {
	return nil, errors.New("unix-socket listener not offered on Windows")
}

package demo

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is an embedded MQTT broker on loopback that stands in for terminal management's
// broker in the demo. It accepts any client: it is reachable from this machine only.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// StartBroker starts the broker on addr ("127.0.0.1:0" picks a free port).
func StartBroker(addr string, log *slog.Logger) (*Broker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("demo broker: %s is not a loopback address", addr)
	}
	// mochi listens by address; reserve a concrete port first so it can be reported.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo broker: %w", err)
	}
	addr = ln.Addr().String()
	ln.Close()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: log})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "demo", Address: addr})); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("demo broker: %w", err)
	}
	return &Broker{srv: srv, addr: addr}, nil
}

// URL is the broker's address for MQTT clients: tcp://127.0.0.1:PORT.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// Subscribe calls fn for every message on topics matching filter (inline client).
func (b *Broker) Subscribe(filter string, fn func(topic string, payload []byte, retained bool)) error {
	return b.srv.Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(pk.TopicName, pk.Payload, pk.FixedHeader.Retain)
	})
}

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

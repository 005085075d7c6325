// Package fleet is the terminal manager's side of the terminal-management protocol
// (docs/mgmt-protocol.md): it lists terminals with their presence and health from the
// retained state, telemetry and configuration reports, pushes a configuration document
// to one terminal or a group and waits for each outcome, and runs commands. The
// "sscagent fleet" command is a thin layer over it.
//
// Reading the retained messages of a whole fleet relies on one property of MQTT: a
// broker delivers the retained messages of a subscription before any message published
// after the subscription was acknowledged, on the same connection. After subscribing,
// the client publishes a marker to its own topic and knows it has everything once the
// marker comes back. All fleet subscriptions use QoS 0: brokers bound the QoS 1 messages
// queued for one client (mosquitto: max_queued_messages 1000), which a fleet's retained
// messages exceed, while QoS 0 messages to a connected client are not dropped that way.
package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// Options configure a fleet client. Zero values take the defaults noted.
type Options struct {
	// Broker is the broker URL (tcp://host:1883, tls://host:8883); required.
	Broker string
	// Username and PasswordFile authenticate (the password file is read once).
	Username     string
	PasswordFile config.SecretFile
	// CAFile, CertFile, KeyFile and ServerName set up TLS for tls:// brokers.
	CAFile     string
	CertFile   string
	KeyFile    config.SecretFile
	ServerName string
	// Prefix roots the topic tree. Default mgmt.DefaultPrefix.
	Prefix string
	// ClientID default "sscfleet-" + random.
	ClientID string
	// ConnectTimeout default 10s.
	ConnectTimeout time.Duration
	// StaleAfter: telemetry older than this marks a terminal stale. Default 3m (three
	// default telemetry intervals and some).
	StaleAfter time.Duration
}

// Client is a connection to the broker for fleet operations. Its methods may be called
// one at a time.
type Client struct {
	o    Options
	conn *mqttc.Conn

	mu       sync.Mutex // guards handlers
	handlers []*watch
}

// Dial connects to the broker.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Broker == "" {
		return nil, errors.New("fleet: no broker")
	}
	if err := mqttc.CheckURL(o.Broker); err != nil {
		return nil, fmt.Errorf("fleet: broker %q: %w", o.Broker, err)
	}
	if o.Prefix == "" {
		o.Prefix = mgmt.DefaultPrefix
	}
	if err := mgmt.CheckPrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("fleet: prefix: %w", err)
	}
	if o.ClientID == "" {
		var b [6]byte
		_, _ = crand.Read(b[:])
		o.ClientID = "sscfleet-" + hex.EncodeToString(b[:])
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3 * time.Minute
	}
	c := &Client{o: o}
	mo := mqttc.Options{Brokers: []string{o.Broker}, ClientID: o.ClientID, Username: o.Username,
		CleanSession: true, ConnectTimeout: o.ConnectTimeout, OnMessage: c.dispatch}
	if o.PasswordFile != "" {
		pw, err := o.PasswordFile.Read()
		if err != nil {
			return nil, fmt.Errorf("fleet: password: %w", err)
		}
		mo.Password = strings.TrimRight(string(pw), "\r\n")
	}
	if strings.HasPrefix(o.Broker, "tls:") || strings.HasPrefix(o.Broker, "ssl:") || strings.HasPrefix(o.Broker, "mqtts:") {
		t, err := (mqttc.TLSFiles{CAFile: o.CAFile, CertFile: o.CertFile, KeyFile: o.KeyFile, ServerName: o.ServerName}).Config()
		if err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		mo.TLS = t
	}
	dctx, cancel := context.WithTimeout(ctx, 2*o.ConnectTimeout)
	defer cancel()
	conn, err := mqttc.Dial(dctx, mo)
	if err != nil {
		return nil, fmt.Errorf("fleet: connect %s: %w", o.Broker, err)
	}
	c.conn = conn
	return c, nil
}

// Close disconnects.
func (c *Client) Close() { c.conn.Close(250 * time.Millisecond) }

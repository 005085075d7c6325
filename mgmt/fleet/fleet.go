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
// messages exceed. mosquitto 2.0 also drops QoS 0 messages to a connected client once
// that many packets wait for its socket, which a fleet's retained messages can reach
// when the client reads slower than the broker writes: the client reads through a large
// buffer, publishes the marker again while it does not come back, and reports
// ErrDropped when a later marker comes back instead of the first (the broker then needs
// max_queued_messages 0, docs/mgmt-protocol.md §11).
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
	"github.com/sscagent/sscagent/internal/signing"
	"github.com/sscagent/sscagent/mgmt"
	"github.com/sscagent/sscagent/mgmt/internal/mqttc"
)

// Options configure a fleet client. Zero values take the defaults noted.
type Options struct {
	// Broker is the broker URL (tcp://host:1883, tls://host:8883); required. Several
	// URLs separated by commas (the nodes of a cluster) are tried in order, at connect
	// and after a loss.
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
	// Signer is the manager key that signs every configuration document and command
	// (docs/mgmt-protocol.md §10.1), one message per terminal. Nil publishes them
	// unsigned, which only a test terminal without pinned manager keys takes.
	Signer *signing.PrivateKey
}

// Client is a connection to the broker for fleet operations. Its methods may be called
// one at a time.
type Client struct {
	o    Options
	mo   mqttc.Options // to dial again after a loss
	done chan struct{} // closed by Close

	// conmu guards the connection: conn, and up, which is closed while conn is
	// connected and replaced when it is lost (a broker or cluster node went away).
	conmu sync.Mutex
	conn  *mqttc.Conn
	up    chan struct{}

	mu       sync.Mutex // guards handlers
	handlers []*watch
}

// Dial connects to the broker.
func Dial(ctx context.Context, o Options) (*Client, error) {
	if o.Broker == "" {
		return nil, errors.New("fleet: no broker")
	}
	brokers := strings.Split(o.Broker, ",")
	for i, b := range brokers {
		brokers[i] = strings.TrimSpace(b)
		if err := mqttc.CheckURL(brokers[i]); err != nil {
			return nil, fmt.Errorf("fleet: broker %q: %w", brokers[i], err)
		}
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
	mo := mqttc.Options{Brokers: brokers, ClientID: o.ClientID, Username: o.Username,
		CleanSession: true, ConnectTimeout: o.ConnectTimeout, OnMessage: c.dispatch, ReadBuffer: readBuffer}
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
	c.mo, c.done, c.conn, c.up = mo, make(chan struct{}), conn, make(chan struct{})
	close(c.up)
	go c.keep()
	return c, nil
}

// Close disconnects.
func (c *Client) Close() {
	close(c.done)
	c.conmu.Lock()
	conn := c.conn
	c.conmu.Unlock()
	conn.Close(250 * time.Millisecond)
}

// current returns the connection, waiting (up to ctx) while a lost one is replaced.
func (c *Client) current(ctx context.Context) (*mqttc.Conn, error) {
	for {
		c.conmu.Lock()
		conn, up := c.conn, c.up
		c.conmu.Unlock()
		select {
		case <-up:
			return conn, nil
		case <-c.done:
			return nil, errors.New("fleet: client closed")
		case <-ctx.Done():
			return nil, fmt.Errorf("fleet: no connection to the broker: %w", ctx.Err())
		}
	}
}

// keep replaces a lost connection: it dials the brokers again (in order, so the next
// node of a cluster takes over) until one accepts, subscribes every watch again and
// publishes the sync markers again, so an operation in progress goes on: a listing gets
// the retained messages and its marker anew, a push or command its reports and results.
func (c *Client) keep() {
	for {
		c.conmu.Lock()
		conn := c.conn
		c.conmu.Unlock()
		select {
		case <-c.done:
			return
		case <-conn.Lost():
		}
		c.conmu.Lock()
		c.up = make(chan struct{})
		c.conmu.Unlock()
		delay := 100 * time.Millisecond
		for {
			dctx, cancel := context.WithTimeout(context.Background(), 2*c.o.ConnectTimeout)
			nc, err := mqttc.Dial(dctx, c.mo)
			cancel()
			if err == nil {
				if err = c.resubscribe(nc); err == nil {
					select {
					case <-c.done: // closed meanwhile
						nc.Close(0)
						return
					default:
					}
					c.conmu.Lock()
					c.conn = nc
					close(c.up)
					c.conmu.Unlock()
					break
				}
				nc.Abort()
			}
			select {
			case <-c.done:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// resubscribe subscribes nc to every watch's filters and publishes the markers.
func (c *Client) resubscribe(nc *mqttc.Conn) error {
	c.mu.Lock()
	fm := map[string]byte{}
	var markers []*watch
	for _, w := range c.handlers {
		for _, f := range w.filters {
			fm[f] = 0
		}
		if w.sync {
			markers = append(markers, w)
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*c.o.ConnectTimeout)
	defer cancel()
	if len(fm) > 0 {
		if err := nc.Subscribe(ctx, fm); err != nil {
			return err
		}
	}
	for _, w := range markers {
		if err := nc.Publish(ctx, mqttc.Message{Topic: w.marker, Payload: w.markerPayload(true)}); err != nil {
			return err
		}
	}
	return nil
}

// readBuffer is the fleet client's read buffer: a listing reads a whole fleet's
// retained messages at once.
const readBuffer = 256 << 10

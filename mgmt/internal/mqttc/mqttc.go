// Package mqttc is the one place that touches github.com/eclipse/paho.mqtt.golang: a
// single MQTT 3.1.1 connection with context-aware connect, publish and subscribe, an
// explicit "lost" signal, and two ways to end it (a clean DISCONNECT, or closing the TCP
// connection so the broker publishes the will). It never reconnects by itself: the
// caller owns the reconnect loop, because every new connection carries a new will (the
// session epoch changes) and paho fixes the will for the life of a client.
//
// Incoming messages are handed to Options.OnMessage in arrival order from paho's router
// goroutine; the callback must not block (paho acknowledges a QoS 1 message once it
// returns, and a blocked router would also stall the PUBACKs our own publishes wait for).
package mqttc

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/tlspin"
)

// Message is one MQTT application message.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Schemes are the broker URL schemes accepted: plain TCP and TLS.
var Schemes = []string{"tcp", "mqtt", "tls", "ssl", "mqtts"}

// IsTLS reports whether a broker URL scheme needs TLS.
func IsTLS(scheme string) bool { return scheme == "tls" || scheme == "ssl" || scheme == "mqtts" }

// CheckURL reports what is wrong with a broker URL, or nil.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if !slices.Contains(Schemes, u.Scheme) {
		return fmt.Errorf("scheme must be one of %s", strings.Join(Schemes, ", "))
	}
	if u.Hostname() == "" || u.Port() == "" {
		return errors.New("must name a host and a port")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return errors.New("must be scheme://host:port only (credentials go in username and passwordFile)")
	}
	return nil
}

// Options describe one connection. Zero durations take the defaults noted.
type Options struct {
	// Brokers are tried in order until one accepts the connection.
	Brokers []string
	// ClientID identifies the session on the broker.
	ClientID string
	// Username and Password authenticate; empty Username sends none.
	Username, Password string
	// TLS is used for tls://, ssl:// and mqtts:// brokers; nil uses the system roots.
	TLS *tls.Config
	// KeepAlive is the MQTT keepalive; default 30s.
	KeepAlive time.Duration
	// ConnectTimeout bounds TCP, TLS and CONNACK for one broker; default 10s.
	ConnectTimeout time.Duration
	// CleanSession asks the broker to forget earlier subscriptions and queued messages.
	CleanSession bool
	// Will is published by the broker if the connection ends without DISCONNECT.
	Will *Message
	// OnMessage receives every incoming message, in order; it must not block.
	OnMessage func(Message)
	// ReadBuffer, when positive, buffers reads from the broker (bytes). paho reads
	// each packet in three or more small reads (type, remaining length byte by byte,
	// body), each a system call; a client that receives a flood (a fleet's retained
	// messages) must read faster than the broker writes, or the broker drops what
	// does not fit its queue for the client (mosquitto: max_queued_messages, QoS 0
	// included). 0 reads unbuffered: a terminal receives little.
	ReadBuffer int
}

// RefusedError is a CONNACK that refused the connection (MQTT 3.1.1 return codes 1-5).
type RefusedError struct{ Code byte }

func (e *RefusedError) Error() string {
	switch e.Code {
	case 1:
		return "broker refused the connection: unacceptable protocol version"
	case 2:
		return "broker refused the connection: client identifier rejected"
	case 3:
		return "broker refused the connection: server unavailable"
	case 4:
		return "broker refused the connection: bad user name or password"
	case 5:
		return "broker refused the connection: not authorized"
	}
	return fmt.Sprintf("broker refused the connection: return code %d", e.Code)
}

// Auth reports whether the refusal is about credentials (4 or 5): retrying with the same
// ones will not help, though the password file may change.
func (e *RefusedError) Auth() bool { return e.Code == 4 || e.Code == 5 }

// ErrLost is returned by calls made on a connection that has gone.
var ErrLost = errors.New("mqtt connection lost")

// Conn is one established connection.
type Conn struct {
	c              paho.Client
	sessionPresent bool

	lost     chan struct{}
	lostOnce sync.Once
	mu       sync.Mutex // guards the fields below
	lostErr  error
	netConns []net.Conn // every connection paho opened (the last one is live)
}

// Dial connects to the first broker that accepts. ctx bounds the whole attempt.
func Dial(ctx context.Context, o Options) (*Conn, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("mqtt: no broker configured")
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	c := &Conn{lost: make(chan struct{})}
	po := paho.NewClientOptions()
	for _, b := range o.Brokers {
		po.AddBroker(b)
	}
	po.SetClientID(o.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(o.CleanSession).
		SetOrderMatters(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(o.KeepAlive, 10*time.Second)).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.ConnectTimeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.markLost(err) })
	if o.Username != "" {
		po.SetUsername(o.Username)
		po.SetPassword(o.Password)
	}
	if o.Will != nil {
		po.SetBinaryWill(o.Will.Topic, o.Will.Payload, o.Will.QoS, o.Will.Retained)
	}
	if o.OnMessage != nil {
		on := o.OnMessage
		po.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			on(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retained: m.Retained()})
		})
	}
	tlsConf := o.TLS
	po.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		nc, err := open(ctx, u, tlsConf, o.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		if o.ReadBuffer > 0 {
			nc = &bufferedConn{Conn: nc, r: bufio.NewReaderSize(nc, o.ReadBuffer)}
		}
		c.mu.Lock()
		c.netConns = append(c.netConns, nc)
		c.mu.Unlock()
		return nc, nil
	})
	c.c = paho.NewClient(po)
	tok := c.c.Connect().(*paho.ConnectToken)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.closeNet() // unblocks the handshake; paho then reports the failure
		<-tok.Done()
		c.c.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		if rc := tok.ReturnCode(); rc >= 1 && rc <= 5 {
			return nil, &RefusedError{Code: rc}
		}
		return nil, fmt.Errorf("mqtt connect: %w", err)
	}
	c.sessionPresent = tok.SessionPresent()
	return c, nil
}

// open dials one broker URL, with TLS when its scheme asks for it.
func open(ctx context.Context, u *url.URL, conf *tls.Config, timeout time.Duration) (net.Conn, error) {
	if u.Scheme != "tcp" && u.Scheme != "mqtt" && !IsTLS(u.Scheme) {
		return nil, fmt.Errorf("mqtt: unsupported broker scheme %q", u.Scheme)
	}
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	nc = withQuickAck(nc)
	if !IsTLS(u.Scheme) {
		return nc, nil
	}
	if conf == nil {
		conf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	conf = conf.Clone()
	if conf.ServerName == "" {
		conf.ServerName = u.Hostname()
	}
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// bufferedConn reads through a buffer: one system call for many small packets.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// SessionPresent reports the CONNACK session-present flag: the broker kept the
// subscriptions and queued messages of an earlier connection with this client id.
func (c *Conn) SessionPresent() bool { return c.sessionPresent }

func (c *Conn) markLost(err error) {
	if err == nil {
		err = ErrLost
	}
	c.lostOnce.Do(func() {
		c.mu.Lock()
		c.lostErr = err
		c.mu.Unlock()
		close(c.lost)
	})
}

// Lost is closed when the connection has gone (broker, network, keepalive, Close, Abort).
func (c *Conn) Lost() <-chan struct{} { return c.lost }

// Err returns why the connection was lost, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostErr
}

// wait waits for a paho token, the loss of the connection or ctx.
func (c *Conn) wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-c.lost:
		// A token that completed at the same moment still counts.
		select {
		case <-tok.Done():
			return tok.Error()
		default:
		}
		return fmt.Errorf("%w: %v", ErrLost, c.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends m and waits until it is done: written to the socket for QoS 0,
// acknowledged (PUBACK) for QoS 1.
func (c *Conn) Publish(ctx context.Context, m Message) error {
	return c.PublishAsync(m).Wait(ctx)
}

// Pending is a message handed to the connection whose outcome is not known yet.
type Pending struct {
	c     *Conn
	topic string
	tok   paho.Token
	err   error
}

// PublishAsync hands m to the connection and returns at once. Messages are sent in
// the order they are handed over; waiting for each in turn keeps many in flight, which
// matters on brokers that leave Nagle's algorithm on (mosquitto's default): a lone
// publish can wait a delayed ACK (about 40 ms) for its PUBACK.
func (c *Conn) PublishAsync(m Message) *Pending {
	select {
	case <-c.lost:
		return &Pending{topic: m.Topic, err: fmt.Errorf("%w: %v", ErrLost, c.Err())}
	default:
	}
	return &Pending{c: c, topic: m.Topic, tok: c.c.Publish(m.Topic, m.QoS, m.Retained, m.Payload)}
}

// Wait waits for the message's outcome, the loss of the connection or ctx.
func (p *Pending) Wait(ctx context.Context) error {
	err := p.err
	if err == nil {
		err = p.c.wait(ctx, p.tok)
	}
	if err != nil {
		return fmt.Errorf("publish %s: %w", p.topic, err)
	}
	return nil
}

// Subscribe subscribes to filters (topic filter -> QoS) and waits for the SUBACK. A
// filter the broker refused (return code 0x80) is an error.
func (c *Conn) Subscribe(ctx context.Context, filters map[string]byte) error {
	tok := c.c.SubscribeMultiple(filters, nil)
	if err := c.wait(ctx, tok); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, rc := range st.Result() {
			if rc == 0x80 {
				return fmt.Errorf("subscribe %s: refused by the broker (not authorized?)", f)
			}
		}
	}
	return nil
}

// Unsubscribe ends subscriptions and waits for the UNSUBACK.
func (c *Conn) Unsubscribe(ctx context.Context, filters ...string) error {
	if len(filters) == 0 {
		return nil
	}
	if err := c.wait(ctx, c.c.Unsubscribe(filters...)); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	return nil
}

// Close sends DISCONNECT (after up to quiesce for work in flight) and closes the
// connection. The broker discards the will.
func (c *Conn) Close(quiesce time.Duration) {
	c.c.Disconnect(uint(quiesce.Milliseconds()))
	c.markLost(errors.New("closed"))
}

// Abort closes the TCP connection without DISCONNECT, as a crash or a network failure
// would: the broker publishes the will.
func (c *Conn) Abort() {
	// paho treats a read on a connection closed locally as its own doing and reports
	// nothing, so the loss is marked here; Disconnect then only stops paho's workers
	// (its DISCONNECT cannot reach the broker any more).
	c.closeNet()
	c.markLost(errors.New("connection aborted"))
	c.c.Disconnect(0)
}

func (c *Conn) closeNet() {
	c.mu.Lock()
	ncs := c.netConns
	c.mu.Unlock()
	for _, nc := range ncs {
		nc.Close()
	}
}

// TLSFiles names the files of a TLS setup: the CA that signed the broker's certificate
// and, for client-certificate authentication, this client's certificate and key.
type TLSFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    config.SecretFile
	ServerName string
	// PinSPKI are SPKI SHA-256 pins (internal/tlspin) checked on every connection.
	PinSPKI []string
}

// Config builds the tls.Config (TLS 1.2 or later). With no CA file the system roots are
// used; with a certificate file the key file is required.
func (f TLSFiles) Config() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate found", f.CAFile)
		}
		conf.RootCAs = pool
	}
	if f.CertFile != "" {
		certPEM, err := os.ReadFile(f.CertFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		keyPEM, err := f.KeyFile.Read()
		if err != nil {
			return nil, fmt.Errorf("tls client key: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate %s: %w", f.CertFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	pins, err := tlspin.Parse(f.PinSPKI)
	if err != nil {
		return nil, fmt.Errorf("tls pinSPKI: %w", err)
	}
	pins.Apply(conf)
	return conf, nil
}

package platform

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/tlspin"
	"github.com/sscagent/sscagent/internal/version"
	"github.com/sscagent/sscagent/platform/protocol"
)

// Options are the client's collaborators. The zero value works for everything but
// TerminalID.
type Options struct {
	// TerminalID is sent as terminalId in every request's data (terminal.id). Required.
	TerminalID string
	// AllowTestKeys accepts the sandbox's published test keys (protocol.TestKey). Only a
	// test terminal (terminal.test) sets it; zero refuses them.
	AllowTestKeys bool
	// Logger receives one debug line per call (operation, requestId, class, msgCode,
	// duration; never personal data). Nil: discard.
	Logger *slog.Logger
	// Now is the wall clock used for timestamps and the clock offset. Nil: time.Now.
	Now func() time.Time
	// Dialect, when set, is the platform's dialect, compiled from the profile by the
	// caller (who then logs Config.Deprecations). Nil: compiled from the configuration.
	Dialect *protocol.Dialect
	// OnCall, when set, is told of every call: operation, class and duration (metrics).
	// It must not block.
	OnCall func(op protocol.Op, class Class, d time.Duration)
	// Observe, when set, is called after every attempt with the exact bytes exchanged.
	// "sscagent platform call --save-request" uses it; nothing else should.
	Observe func(Exchange)
}

// Exchange is one attempt as it went over the wire.
type Exchange struct {
	Op         protocol.Op
	URL        string
	RequestID  string
	Request    []byte // the exact request body sent
	HTTPStatus int    // 0: no HTTP answer
	Response   []byte // the body received (at most protocol.MaxMessage+1 bytes)
}

// Keys are the key material of one channel: its SM2 private key, the platform's SM2
// public key and the SM4 key for sensitive fields.
type Keys struct {
	Channel  *protocol.PrivateKey
	Platform *protocol.PublicKey
	SM4      []byte
}

// ErrTestKey is returned by New when a key is one of the sandbox's published test keys
// and the terminal is not a test terminal.
var ErrTestKey = errors.New("published sandbox test key refused: set terminal.test only on a test terminal")

// LoadKeys reads the key files named in cfg.
func LoadKeys(cfg Config) (Keys, error) {
	var k Keys
	b, err := cfg.PrivateKey.Read()
	if err != nil {
		return k, fmt.Errorf("platform.privateKey: %w", err)
	}
	if k.Channel, err = protocol.ParsePrivateKey(b); err != nil {
		return k, fmt.Errorf("platform.privateKey %s: %w", cfg.PrivateKey, err)
	}
	b, err = os.ReadFile(cfg.PlatformPublicKey)
	if err != nil {
		return k, fmt.Errorf("platform.platformPublicKey: %w", err)
	}
	if k.Platform, err = protocol.ParsePublicKey(b); err != nil {
		return k, fmt.Errorf("platform.platformPublicKey %s: %w", cfg.PlatformPublicKey, err)
	}
	if b, err = cfg.SM4Key.Read(); err != nil {
		return k, fmt.Errorf("platform.sm4Key: %w", err)
	}
	if k.SM4, err = protocol.ParseSM4Key(b); err != nil {
		return k, fmt.Errorf("platform.sm4Key %s: %w", cfg.SM4Key, err)
	}
	return k, nil
}

// Client calls the platform. It makes exactly one signed request per call and returns
// a classified outcome; it never retries on its own, except once after the platform
// refused a stale timestamp (the platform did nothing; the retry carries a new
// requestId). Retries, backoff and queues belong to the callers. A Client is safe for
// concurrent use.
type Client struct {
	cfg     Config
	opts    Options
	keys    Keys
	base    *url.URL
	http    *http.Client
	dialect *protocol.Dialect
	cipher  *protocol.FieldCipher
	routes  map[protocol.Op]route
	now     func() time.Time
	log     *slog.Logger
	ua      string

	mu    sync.Mutex // guards link and clock
	link  Link
	clock clockState
}

type route struct {
	op          protocol.Operation
	url         string
	serviceCode string
}

// New builds a client from a validated configuration, reading its key files.
func New(cfg Config, opts Options) (*Client, error) {
	d, err := check(cfg, opts)
	if err != nil {
		return nil, err
	}
	keys, err := LoadKeys(cfg)
	if err != nil {
		return nil, err
	}
	return newClient(cfg, keys, d, opts)
}

// check validates cfg and returns its dialect (Options.Dialect when set), the profile
// read and compiled once.
func check(cfg Config, opts Options) (*protocol.Dialect, error) {
	var ps config.Problems
	cfg.validateFields("platform", &ps)
	d := opts.Dialect
	if d == nil {
		d = cfg.compile("platform", &ps)
	}
	return d, ps.Err()
}

// NewWithKeys builds a client with key material already loaded (tests, tools).
func NewWithKeys(cfg Config, keys Keys, opts Options) (*Client, error) {
	d, err := check(cfg, opts)
	if err != nil {
		return nil, err
	}
	return newClient(cfg, keys, d, opts)
}

func newClient(cfg Config, keys Keys, d *protocol.Dialect, opts Options) (*Client, error) {
	if opts.TerminalID == "" {
		return nil, errors.New("platform: Options.TerminalID is required")
	}
	if keys.Channel == nil || keys.Platform == nil || len(keys.SM4) == 0 {
		return nil, errors.New("platform: incomplete keys")
	}
	if !opts.AllowTestKeys {
		switch {
		case protocol.IsTestKey(keys.Channel.Public(), cfg.ChannelNo):
			return nil, fmt.Errorf("platform.privateKey: %w", ErrTestKey)
		case protocol.IsTestKey(keys.Platform, cfg.ChannelNo):
			return nil, fmt.Errorf("platform.platformPublicKey: %w", ErrTestKey)
		case protocol.IsTestSM4Key(keys.SM4, cfg.ChannelNo):
			return nil, fmt.Errorf("platform.sm4Key: %w", ErrTestKey)
		}
	}
	fc, err := d.NewCipher(keys.SM4)
	if err != nil {
		return nil, fmt.Errorf("platform profile %s: sm4: %w", d.Name(), err)
	}
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/")) // validated
	tlsConf, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg: cfg, opts: opts, keys: keys, base: base, cipher: fc, dialect: d,
		routes: map[protocol.Op]route{},
		now:    opts.Now,
		log:    opts.Logger,
		ua:     "sscagent/" + version.Version,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, op := range protocol.Operations() {
		c.routes[op.Op] = route{op: op, url: base.String() + d.Path(op.Op), serviceCode: d.ServiceCode(op.Op)}
	}
	step := min(cfg.Timeout.D(), 10*time.Second)
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: step, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   step,
			MaxIdleConns:          8,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       60 * time.Second,
			DisableCompression:    true,
			ExpectContinueTimeout: 0,
		},
		// A redirect is not an answer: the outcome stays unknown.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pemBytes, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("platform.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("platform.caFile %s: no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCert != "" {
		certPEM, err := os.ReadFile(cfg.ClientCert)
		if err != nil {
			return nil, fmt.Errorf("platform.clientCert: %w", err)
		}
		keyPEM, err := cfg.ClientKey.Read()
		if err != nil {
			return nil, fmt.Errorf("platform.clientKey: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("platform.clientCert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	pins, err := tlspin.Parse(cfg.TLS.PinSPKI)
	if err != nil {
		return nil, fmt.Errorf("platform.tls.pinSPKI: %w", err)
	}
	pins.Apply(tc)
	return tc, nil
}

// Profile returns the effective platform profile the client speaks.
func (c *Client) Profile() protocol.Profile { return c.dialect.Profile() }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

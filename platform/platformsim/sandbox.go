package platformsim

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/platform"
	"github.com/sscagent/sscagent/platform/protocol"
)

// DefaultChannel is the channel number of the example configuration and the demo.
const DefaultChannel = "350100000001"

// Sandbox is a sandbox platform running in this process, for tests and the demo: the
// server, its key directory and its address. Start returns one; Close stops it.
type Sandbox struct {
	*Server
	// Keys is the key directory the sandbox uses.
	Keys *KeyDir
	// Addr is the host:port serving both HTTP and HTTPS.
	Addr string
	// Profile is the profile reference the sandbox speaks (StartOptions.Profile).
	Profile string

	cancel context.CancelFunc
	done   chan error
}

// StartOptions configure Start.
type StartOptions struct {
	// Options for the server; PlatformKey and Channels are filled from the key
	// directory when nil.
	Options
	// Listen is the address to listen on. Empty: 127.0.0.1:0 (a free port).
	Listen string
	// Channels to register (created in the key directory if missing). Empty:
	// DefaultChannel.
	Channels []string
	// TestKeys makes new keys the published derived test keys.
	TestKeys bool
	// TLSHosts are extra host names or addresses for the TLS certificate.
	TLSHosts []string
	// Profile is the platform profile to speak (built-in name or file) when
	// Options.Dialect is nil. Empty: sscsim.
	Profile string
}

// Start opens (or creates) the key directory dir and runs a sandbox until ctx ends
// or Close is called.
func Start(ctx context.Context, dir string, so StartOptions) (*Sandbox, error) {
	chans := so.Channels
	if len(chans) == 0 {
		chans = []string{DefaultChannel}
	}
	kd, err := OpenKeyDir(dir, chans, so.TLSHosts, so.TestKeys)
	if err != nil {
		return nil, err
	}
	opts := so.Options
	if opts.Dialect == nil {
		p, err := protocol.LoadProfile(so.Profile)
		if err != nil {
			return nil, err
		}
		if opts.Dialect, err = protocol.Compile(p); err != nil {
			return nil, err
		}
	}
	if opts.PlatformKey == nil {
		opts.PlatformKey = kd.Platform
	}
	if opts.Channels == nil {
		opts.Channels = kd.Channels
	}
	srv, err := New(opts)
	if err != nil {
		return nil, err
	}
	addr := so.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	sb := &Sandbox{Server: srv, Keys: kd, Addr: ln.Addr().String(), Profile: so.Profile, cancel: cancel, done: make(chan error, 1)}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{kd.TLS}, MinVersion: tls.VersionTLS12}
	go func() { sb.done <- srv.Serve(ctx, ln, tlsConf) }()
	return sb, nil
}

// Close stops the sandbox and waits for it.
func (sb *Sandbox) Close() error {
	sb.cancel()
	err := <-sb.done
	sb.done <- err // a second Close returns the same
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// URL returns the base URL, https:// or http://.
func (sb *Sandbox) URL(https bool) string {
	if https {
		return "https://" + sb.Addr
	}
	return "http://" + sb.Addr
}

// ClientConfig returns a platform configuration section for a terminal of channel
// that uses this sandbox's key files (the channel's private key must be in the key
// directory), over HTTPS trusting the sandbox's certificate, or plain HTTP.
func (sb *Sandbox) ClientConfig(channel string, https bool) platform.Config {
	c := platform.DefaultConfig()
	c.BaseURL = sb.URL(https)
	c.ChannelNo = channel
	c.ApplicationNo = "02"
	c.Profile = sb.Profile
	dir := filepath.Join(sb.Keys.Dir, "channels", channel)
	c.PrivateKey = config.SecretFile(filepath.Join(dir, "channel.key.pem"))
	c.SM4Key = config.SecretFile(filepath.Join(dir, "sm4.key"))
	c.PlatformPublicKey = filepath.Join(sb.Keys.Dir, "platform.pub.pem")
	if https {
		c.CAFile = sb.Keys.CertFile
	}
	return c
}

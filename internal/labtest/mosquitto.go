package labtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoOptions configure a private mosquitto. The zero value is a plain TCP broker
// on 127.0.0.1 that accepts anonymous clients and keeps nothing on disk.
type MosquittoOptions struct {
	// Passwords maps user names to passwords. When set, anonymous clients are refused.
	Passwords map[string]string
	// ACL is the content of an acl_file (mosquitto(5) syntax); empty means none.
	ACL string
	// TLS serves TLS with certificates from CA instead of plain TCP.
	TLS *CA
	// RequireClientCert asks TLS clients for a certificate signed by the CA, whose
	// common name becomes the user name.
	RequireClientCert bool
	// Extra are more configuration lines ("max_queued_messages 0").
	Extra []string
}

// Mosquitto is a mosquitto broker private to one test, on a free loopback port. It can
// be stopped and started again on the same port (a broker restart); with the default
// "persistence false" a restart forgets every session and retained message.
type Mosquitto struct {
	// URL is tcp://127.0.0.1:PORT, or tls://localhost:PORT with TLS.
	URL  string
	Port int
	// Dir holds the configuration, password file, certificates and the log.
	Dir string

	t    testing.TB
	conf string
	log  string

	mu   sync.Mutex // guards the fields below
	cmd  *exec.Cmd
	done chan struct{}
}

// StartMosquitto starts a broker for t and stops it when t ends. Without mosquitto it
// skips the test (fails it under CI).
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	Require(t, "mosquitto")
	if len(o.Passwords) > 0 {
		Require(t, "mosquitto_passwd")
	}
	dir := t.TempDir()
	m := &Mosquitto{Dir: dir, t: t, conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log")}
	t.Cleanup(m.Stop)
	var lastErr error
	for try := 0; try < 5; try++ {
		m.Port = FreePort(t)
		if err := m.writeConfig(o); err != nil {
			t.Fatal(err)
		}
		if lastErr = m.start(); lastErr == nil {
			host := "127.0.0.1"
			scheme := "tcp"
			if o.TLS != nil {
				scheme, host = "tls", "localhost"
			}
			m.URL = fmt.Sprintf("%s://%s:%d", scheme, host, m.Port)
			return m
		}
	}
	t.Fatalf("mosquitto did not start: %v\n%s", lastErr, m.Log())
	return nil
}

func (m *Mosquitto) writeConfig(o MosquittoOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.Port)
	b.WriteString("persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	if os.Geteuid() == 0 {
		// Started as root mosquitto drops to user "mosquitto", who cannot read the test's
		// private files; keep root (the broker only listens on loopback).
		b.WriteString("user root\n")
	}
	if len(o.Passwords) > 0 {
		pw := filepath.Join(m.Dir, "passwords")
		names := make([]string, 0, len(o.Passwords))
		for u := range o.Passwords {
			names = append(names, u)
		}
		sort.Strings(names)
		for i, u := range names {
			args := []string{"-b", pw, u, o.Passwords[u]}
			if i == 0 {
				args = append([]string{"-c"}, args...)
			}
			if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("mosquitto_passwd: %v: %s", err, out)
			}
		}
		fmt.Fprintf(&b, "allow_anonymous false\npassword_file %s\n", pw)
	} else if !o.RequireClientCert {
		b.WriteString("allow_anonymous true\n")
	}
	if o.ACL != "" {
		acl := filepath.Join(m.Dir, "acl")
		if err := os.WriteFile(acl, []byte(o.ACL), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "acl_file %s\n", acl)
	}
	if o.TLS != nil {
		cert, key := o.TLS.Issue(m.t, "localhost", false)
		fmt.Fprintf(&b, "cafile %s\ncertfile %s\nkeyfile %s\ntls_version tlsv1.2\n", o.TLS.CertFile, cert, key)
		if o.RequireClientCert {
			b.WriteString("require_certificate true\nuse_identity_as_username true\n")
		}
	}
	for _, l := range o.Extra {
		b.WriteString(l + "\n")
	}
	return os.WriteFile(m.conf, []byte(b.String()), 0o600)
}

// start runs mosquitto on m.Port and waits until it accepts TCP connections.
func (m *Mosquitto) start() error {
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("mosquitto", "-c", m.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	done := make(chan struct{})
	go func() { // owned by m: ends when mosquitto exits
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port))
	for {
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited at start (port %d taken?)", m.Port)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto not listening on %s after 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
	return nil
}

// Stop ends the broker (SIGTERM, SIGKILL after 5s) and waits for it. Clients see their
// connection closed. Calling it on a stopped broker is harmless.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	stopProcess(cmd.Process, os.Interrupt, done)
}

// Start starts a stopped broker again on the same port.
func (m *Mosquitto) Start() {
	m.t.Helper()
	var err error
	for try := 0; try < 50; try++ { // the old socket may linger for a moment
		if err = m.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.t.Fatalf("mosquitto restart on port %d: %v\n%s", m.Port, err, m.Log())
}

// PID returns the broker's process id, 0 when stopped.
func (m *Mosquitto) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Log returns what the broker logged so far (for failure messages).
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(m.log)
	return string(b)
}

// CA is a throwaway certificate authority for TLS tests: an ECDSA P-256 root whose
// certificate is in CertFile.
type CA struct {
	CertFile string
	dir      string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	mu       sync.Mutex // guards serial
	serial   int64
}

// NewCA creates a CA in a temporary directory of t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sscagent test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{dir: t.TempDir(), cert: cert, key: key, serial: 1}
	ca.CertFile = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Issue creates a certificate for name (a server name for localhost/127.0.0.1, or a
// client identity when client is true) and returns its certificate and key files; the
// key file has mode 0600.
func (ca *CA) Issue(t testing.TB, name string, client bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{name}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%d", strings.Map(safeRune, name), serial))
	certFile, keyFile = base+".pem", base+".key"
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func safeRune(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
		return r
	}
	return '_'
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

package tlspin

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// newCert makes a self-signed certificate for 127.0.0.1 with a fresh P-256 key.
func newCert(t *testing.T) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pin test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

// server starts a real TLS server (TLS 1.2 or later) presenting cert.
func server(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// client returns an HTTP client that trusts root and checks pins, one connection per
// request.
func client(root *x509.Certificate, pins Pins) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	pins.Apply(tc)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

// TestPinAgainstRealServer connects to a real TLS server twice per case (every
// connection is checked): its own key's pin passes, another key's pin fails the
// handshake with ErrMismatch.
func TestPinAgainstRealServer(t *testing.T) {
	cert := newCert(t)
	srv := server(t, cert)
	good := Of(cert.Leaf)
	bad := Of(newCert(t).Leaf)
	if good == bad {
		t.Fatal("two servers share a key")
	}
	for _, tc := range []struct {
		name string
		pins []string
		ok   bool
	}{
		{"own key, base64", []string{String(good)}, true},
		{"own key, hex, second of two", []string{hex.EncodeToString(bad[:]), hex.EncodeToString(good[:])}, true},
		{"own key, sha256// prefix", []string{"sha256//" + String(good)}, true},
		{"foreign key", []string{String(bad)}, false},
	} {
		pins, err := Parse(tc.pins)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := client(cert.Leaf, pins)
		for i := 0; i < 2; i++ {
			resp, err := c.Get(srv.URL)
			if resp != nil {
				resp.Body.Close()
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("%s: connection %d refused: %v", tc.name, i, err)
			case !tc.ok && err == nil:
				t.Fatalf("%s: connection %d accepted with a foreign pin", tc.name, i)
			case !tc.ok && !errors.Is(err, ErrMismatch):
				t.Fatalf("%s: connection %d: error %v, want ErrMismatch", tc.name, i, err)
			}
		}
	}
}

// TestPinSentAlongDoesNotCount: a pinned certificate the server merely sends in its
// chain (not verified) does not satisfy the pin.
func TestPinSentAlongDoesNotCount(t *testing.T) {
	pinned := newCert(t)
	cert := newCert(t)
	sent := cert
	sent.Certificate = append(sent.Certificate, pinned.Certificate[0])
	srv := server(t, sent)
	c := client(cert.Leaf, Pins{Of(pinned.Leaf)})
	resp, err := c.Get(srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
}

// TestPinMatchesOpenSSL computes the pin of the server's certificate with OpenSSL, the
// way the docs tell an installer to, and compares it with Of.
func TestPinMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	cert := newCert(t).Leaf
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	pub := run(t, certPEM, "x509", "-pubkey", "-noout")
	der := run(t, pub, "pkey", "-pubin", "-outform", "der")
	sum := sha256.Sum256(der)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != String(Of(cert)) {
		t.Fatalf("openssl pin %s, Of %s", got, String(Of(cert)))
	}
}

func run(t *testing.T, in []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestParseRefusesJunk(t *testing.T) {
	for _, s := range []string{"", "abc", strings.Repeat("0", 63), base64.StdEncoding.EncodeToString(make([]byte, 20))} {
		if _, err := Parse([]string{s}); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("sha256//" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse([]string{s})
		if err == nil && len(p) != 1 {
			t.Fatalf("Parse(%q) = %d pins", s, len(p))
		}
	})
}
